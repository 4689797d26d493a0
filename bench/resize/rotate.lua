-- rotate.lua - wrk script for make bench-resize: cycles through a list of
-- requests so that every request names (or carries) a different input.
--
-- usage: wrk -s rotate.lua URL -- LISTFILE
-- LISTFILE has one request a line: "GET /resize?src=..." or
-- "POST /resize?... FILE" (FILE's bytes are the body). Bodies are read once,
-- at start. done() prints one "RESULT key=value ..." line for run.py.

local requests = {}
local next_index = 0
local threads = 0

-- Runs in the main thread once per wrk thread: numbers them, so each one
-- starts at a different place in the list.
function setup(thread)
   thread:set("thread_id", threads)
   threads = threads + 1
end

function init(args)
   local list = assert(io.open(args[1], "r"))
   for line in list:lines() do
      local method, path, file = line:match("^(%u+)%s+(%S+)%s*(%S*)$")
      if method then
         local body, headers = nil, {}
         if file ~= "" then
            local f = assert(io.open(file, "rb"))
            body = f:read("*a")
            f:close()
            headers["Content-Type"] = "application/octet-stream"
         end
         requests[#requests + 1] = wrk.format(method, path, headers, body)
      end
   end
   list:close()
   assert(#requests > 0, "no requests in " .. args[1])
   next_index = ((thread_id or 0) * 7) % #requests
end

function request()
   next_index = next_index % #requests + 1
   return requests[next_index]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d " ..
      "connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
