-- wrk script: check-ins of known devices (RF_DEVICES of them, enrolled by rf_enroll_devices), each
-- thread cycling through its share of the fleet, each check-in with its device's own session token
-- (RF_SESSIONS: "DEVICE TOKEN" lines in device order). seq = (seconds at start) * 1000 + cycle, so
-- it grows across runs and within a run; a device is hit at most once per cycle.
--
-- RF_AGENT_SHAPE=1: the body the agent sends (protocol::EncodeCheckinRequest: canonical JSON with
-- the device's attrs and capability manifest, the profiles rf_enroll_devices enrolled, and empty
-- apply/quarantined lists), which a server of a cluster also needs to make the record of a device
-- that enrolled through another replica (docs/deploy.md "Device state across servers"). Unset: the
-- short form (device_id, seq, channels, health) the earlier runs measured.
--
-- RF_CONNECTION_CLOSE=1: every request says "Connection: close", so each check-in opens a new TCP
-- connection, as an agent polling less often than the keep-alive idle time does.
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
  if os.getenv("RF_CONNECTION_CLOSE") == "1" then headers["Connection"] = "close" end
  sha = string.rep("ab", 32)
  agent_shape = os.getenv("RF_AGENT_SHAPE") == "1"
  -- rf_enroll_devices' four profiles, device d has profile d % 4.
  profiles = {[0] = {"7.11", "windows"}, {"7.15", "windows"}, {"7.16", "linux"}, {"7.16", "macos"}}
end

function request()
  if next_device >= devices then
    cycle = cycle + 1
    next_device = id
  end
  local d = next_device
  next_device = next_device + nthreads
  headers["Authorization"] = "Bearer " .. tokens[d]
  local body
  if agent_shape then
    local p = profiles[d % 4]
    body = string.format('{"attrs":{"agent_version":"%s","os":"%s"},' ..
        '"capabilities":{"ipc_rule":{"inputs":20,"max_items":5000,"schema_versions":[3]}},' ..
        '"channels":{"291":{"current":{"sha256":"%s","version":42},"lkg":{"sha256":"%s","version":41}}},' ..
        '"device_id":"dev-%07d","health":{"apply":[],"crashes":0,"errors":0,"quarantined":[]},' ..
        '"seq":%d}', p[1], p[2], sha, sha, d, base_seq + cycle)
    return wrk.format("POST", "/v1/agent/checkin", headers, body)
  end
  body = string.format('{"device_id":"dev-%07d","seq":%d,' ..
      '"channels":{"291":{"current":{"version":42,"sha256":"%s"},"lkg":{"version":41,"sha256":"%s"}}},' ..
      '"health":{"crashes":0,"errors":0}}', d, base_seq + cycle, sha, sha)
  return wrk.format("POST", "/v1/agent/checkin", headers, body)
end
