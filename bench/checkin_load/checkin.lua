-- wrk script: check-ins of known devices (RF_DEVICES of them, enrolled by rf_enroll_devices), each
-- thread cycling through its share of the fleet, each check-in with its device's own session token
-- (RF_SESSIONS: "DEVICE TOKEN" lines in device order). seq = (seconds at start) * 1000 + cycle, so
-- it grows across runs and within a run; a device is hit at most once per cycle.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  nthreads = tonumber(os.getenv("RF_WRK_THREADS") or "1")
  devices = tonumber(os.getenv("RF_DEVICES") or "1000000")
  base_seq = os.time() * 1000
  cycle = 0
  next_device = id
  -- This thread's share of the session tokens (device d is line d + 1).
  tokens = {}
  local d = 0
  for line in io.lines(os.getenv("RF_SESSIONS")) do
    if d % nthreads == id then tokens[d] = string.sub(line, string.find(line, " ") + 1) end
    d = d + 1
  end
  headers = {["Authorization"] = "", ["Content-Type"] = "application/json"}
  sha = string.rep("ab", 32)
end

function request()
  if next_device >= devices then
    cycle = cycle + 1
    next_device = id
  end
  local d = next_device
  next_device = next_device + nthreads
  headers["Authorization"] = "Bearer " .. tokens[d]
  local body = string.format('{"device_id":"dev-%07d","seq":%d,' ..
      '"channels":{"291":{"current":{"version":42,"sha256":"%s"},"lkg":{"version":41,"sha256":"%s"}}},' ..
      '"health":{"crashes":0,"errors":0}}', d, base_seq + cycle, sha, sha)
  return wrk.format("POST", "/v1/agent/checkin", headers, body)
end
