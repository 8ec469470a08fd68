-- wrk script: enrolls devices dev-0000000 .. dev-(N-1), split across wrk threads; once a thread
-- has enrolled its share it only asks /healthz. N and the token come from the environment
-- (RF_DEVICES, RF_TOKEN, RF_ENROLL_FROM). Four device profiles (os x agent_version), all consuming ipc_rule.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  nthreads = tonumber(os.getenv("RF_WRK_THREADS") or "1")
  devices = tonumber(os.getenv("RF_DEVICES") or "1000000")
  token = os.getenv("RF_TOKEN")
  -- wrk builds (and drops) one request per thread before the run: that one is a /healthz.
  -- RF_ENROLL_FROM: resume a previous run (re-enrolling is idempotent, so overlap is harmless).
  next_device = tonumber(os.getenv("RF_ENROLL_FROM") or "0") + id - nthreads
  headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
end

local oses = {"windows", "windows", "linux", "macos"}
local versions = {"7.11", "7.15", "7.16", "7.16"}

function request()
  if next_device < tonumber(os.getenv("RF_ENROLL_FROM") or "0") then
    next_device = next_device + nthreads
    return wrk.format("GET", "/healthz", headers, nil)
  end
  if next_device >= devices then
    return wrk.format("GET", "/healthz", headers, nil)
  end
  local d = next_device
  next_device = next_device + nthreads
  local k = (d % 4) + 1
  local body = string.format('{"device_id":"dev-%07d","attrs":{"os":"%s","agent_version":"%s"},' ..
      '"capabilities":{"ipc_rule":{"schema_versions":[3],"inputs":20,"max_items":5000}}}',
      d, oses[k], versions[k])
  return wrk.format("POST", "/v1/agent/enroll", headers, body)
end
