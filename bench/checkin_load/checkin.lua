-- wrk script: check-ins of known devices (RF_DEVICES of them, enrolled by enroll.lua), each thread
-- cycling through its share of the fleet. seq = (seconds at start) * 1000 + cycle, so it grows
-- across runs and within a run; a device is hit at most once per cycle.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  nthreads = tonumber(os.getenv("RF_WRK_THREADS") or "1")
  devices = tonumber(os.getenv("RF_DEVICES") or "1000000")
  token = os.getenv("RF_TOKEN")
  base_seq = os.time() * 1000
  cycle = 0
  next_device = id
  headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  sha = string.rep("ab", 32)
end

function request()
  if next_device >= devices then
    cycle = cycle + 1
    next_device = id
  end
  local d = next_device
  next_device = next_device + nthreads
  local body = string.format('{"device_id":"dev-%07d","seq":%d,' ..
      '"channels":{"291":{"current":{"version":42,"sha256":"%s"},"lkg":{"version":41,"sha256":"%s"}}},' ..
      '"health":{"crashes":0,"errors":0}}', d, base_seq + cycle, sha, sha)
  return wrk.format("POST", "/v1/agent/checkin", headers, body)
end
