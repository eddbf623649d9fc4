-- wrk script for bench/serve/serve_bench.py: POSTs the JSON bodies of a file (one per
-- line) in turn, stops each wrk thread after its share of a fixed request count, and
-- prints one RESULT line. Arguments (after --): BODIES_FILE REQUESTS_PER_THREAD DONE_FILE.
-- wrk itself runs until its -d duration: when a thread has sent its share it appends a
-- line to DONE_FILE; the driver interrupts wrk (SIGINT) once every thread has.
local bodies, idx, count, limit, done_file, finished = {}, 0, 0, 0, nil, false
local counter = 0

function setup(thread)
   thread:set("offset", counter)
   counter = counter + 1
end

function init(args)
   for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
   limit = tonumber(args[2])
   done_file = args[3]
   idx = ((offset or 0) * 7919) % #bodies
end

function request()
   idx = idx % #bodies + 1
   return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[idx])
end

function response(status, headers, body)
   count = count + 1
   if count >= limit and not finished then
      finished = true
      local f = io.open(done_file, "a")
      f:write("done\n")
      f:close()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d mean_us=%.1f\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.mean))
end
