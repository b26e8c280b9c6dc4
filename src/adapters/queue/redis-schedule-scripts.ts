/**
 * The Lua scripts of RedisScheduleStore: each runs atomically on the server, which is what makes a
 * claim exactly-once across every worker and publisher. Times are epoch milliseconds; records are
 * JSON (cjson). KEYS[1] is always the store's key prefix plus ':' (a hash tag keeps them in one slot).
 */

const DECODE = `
local P = KEYS[1]
local function get(h, f) local v = redis.call('HGET', P .. h, f) if v then return cjson.decode(v) end return nil end
local function put(h, f, t) redis.call('HSET', P .. h, f, cjson.encode(t)) end
`;

/**
 * A write made once per request: ioredis sends a command again when Redis went away before its reply
 * came (and the store retries it through a restart), so a write may reach the server twice. The
 * caller adds two arguments after the script's own: how long to remember the request (seconds) and
 * its request id (fresh per call, the same in every resend). The first run stores its reply under
 * the id; a resend gets that reply back and changes nothing.
 */
function once(body: string): string {
  return `${DECODE}
local REQ = P .. 'req:' .. ARGV[#ARGV]
local seen = redis.call('GET', REQ)
if seen then return cjson.decode(seen)[1] end
local function body()
${body}
end
local reply = body()
redis.call('SET', REQ, cjson.encode({ reply }), 'EX', tonumber(ARGV[#ARGV - 1]))
return reply`;
}

/** ARGV: name, slot, owner, now, staleBefore. */
export const CLAIM = once(`
local name, slot, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local mine = get('locks', name)
-- Our own claim of this very slot, sent again because its reply was lost (Redis went away between
-- running it and answering; the client resends): the same answer, not "taken" with the lock held.
if mine and mine.owner == ARGV[3] and mine.slot == slot then return '{"kind":"claimed"}' end
local s = get('states', name) or { lastSlot = now, consecutiveFailures = 0 }
if s.lastSlot >= slot then put('states', name, s) return '{"kind":"taken"}' end
s.lastSlot = slot
put('states', name, s)
local l = get('locks', name)
if l and l.heartbeatAt >= tonumber(ARGV[5]) then return cjson.encode({ kind = 'busy', holder = l }) end
put('locks', name, { name = name, owner = ARGV[3], slot = slot, acquiredAt = now, heartbeatAt = now })
if l then return cjson.encode({ kind = 'claimed', tookOverFrom = l.owner }) end
return '{"kind":"claimed"}'`);

/** ARGV: name, slot, owner, now, staleBefore. */
export const RECLAIM = once(`
local name, now = ARGV[1], tonumber(ARGV[4])
local l = get('locks', name)
if not l or l.owner == ARGV[3] or l.slot ~= tonumber(ARGV[2]) then return '{"kind":"taken"}' end
if l.heartbeatAt >= tonumber(ARGV[5]) then return cjson.encode({ kind = 'busy', holder = l }) end
local previous = l.owner
l.owner, l.acquiredAt, l.heartbeatAt = ARGV[3], now, now
put('locks', name, l)
return cjson.encode({ kind = 'claimed', tookOverFrom = previous })`);

/** ARGV: owner, now. Returns the names of the locks renewed. */
export const HEARTBEAT = `${DECODE}
local owner, now = ARGV[1], tonumber(ARGV[2])
local d = get('daemons', owner)
if d then d.heartbeatAt = now put('daemons', owner, d) end
local renewed = {}
local all = redis.call('HGETALL', P .. 'locks')
for i = 1, #all, 2 do
  local l = cjson.decode(all[i + 1])
  if l.owner == owner then l.heartbeatAt = now put('locks', all[i], l) table.insert(renewed, all[i]) end
end
return renewed`;

/** ARGV: name, owner. */
export const RELEASE = `${DECODE}
local l = get('locks', ARGV[1])
if l and l.owner == ARGV[2] then redis.call('HDEL', P .. 'locks', ARGV[1]) end
return 0`;

/** ARGV: name, now. Returns the state. */
export const ENSURE_STATE = `${DECODE}
local s = get('states', ARGV[1])
if not s then s = { lastSlot = tonumber(ARGV[2]), consecutiveFailures = 0 } put('states', ARGV[1], s) end
return cjson.encode(s)`;

/** ARGV: name, slot. Returns 1 when lastSlot moved. */
export const MARK_HANDLED = once(`
local s = get('states', ARGV[1])
if not s or s.lastSlot >= tonumber(ARGV[2]) then return 0 end
s.lastSlot = tonumber(ARGV[2])
put('states', ARGV[1], s)
return 1`);

/** ARGV: name, enabled ('1'|'0'), now. */
export const SET_ENABLED = `${DECODE}
local s = get('states', ARGV[1]) or { lastSlot = tonumber(ARGV[3]), consecutiveFailures = 0 }
s.enabled = ARGV[2] == '1'
if s.enabled then s.lastSlot = tonumber(ARGV[3]) end
put('states', ARGV[1], s)
return 0`;

/** ARGV: name, definition JSON, now. Returns 0 when the name exists. */
export const ADD_DEFINITION = once(`
if redis.call('HEXISTS', P .. 'defs', ARGV[1]) == 1 then return 0 end
redis.call('HSET', P .. 'defs', ARGV[1], ARGV[2])
put('states', ARGV[1], { lastSlot = tonumber(ARGV[3]), consecutiveFailures = 0 })
return 1`);

/** ARGV: name. Returns 1 when a definition was removed. */
export const REMOVE_DEFINITION = once(`
local removed = redis.call('HDEL', P .. 'defs', ARGV[1])
redis.call('HDEL', P .. 'states', ARGV[1])
return removed`);

/**
 * ARGV: run JSON (no id), max runs kept. Adds a run (newest first in the lists), counts a finished
 * one, tracks a running one under its owner; the oldest beyond the bound are dropped.
 */
export const ADD_RUN = once(`
local run = cjson.decode(ARGV[1])
local id = redis.call('INCR', P .. 'runs:seq')
run.id = id
put('runs', tostring(id), run)
redis.call('LPUSH', P .. 'runs:ids', id)
redis.call('LPUSH', P .. 'runs:s:' .. run.schedule, id)
redis.call('LTRIM', P .. 'runs:s:' .. run.schedule, 0, tonumber(ARGV[2]) - 1)
while redis.call('LLEN', P .. 'runs:ids') > tonumber(ARGV[2]) do
  redis.call('HDEL', P .. 'runs', redis.call('RPOP', P .. 'runs:ids'))
end
if run.outcome == 'running' then redis.call('SADD', P .. 'running:' .. run.owner, id)
else redis.call('HINCRBY', P .. 'counts', run.schedule .. '\\0' .. run.outcome, 1) end
return id`);

/**
 * ARGV: id, result JSON. Finishes the run and updates its schedule's state. A run finishes once (a
 * second finish changes nothing); one marked interrupted meanwhile (its owner looked dead and
 * another took the slot over) gets its real outcome, counted instead of 'interrupted'.
 */
export const FINISH_RUN = once(`
local run = get('runs', ARGV[1])
if not run then return 0 end
if run.finished then return 1 end
if run.outcome == 'interrupted' then
  redis.call('HINCRBY', P .. 'counts', run.schedule .. '\\0interrupted', -1)
  run.errorCode, run.errorMessage = nil, nil
end
local r = cjson.decode(ARGV[2])
for k, v in pairs(r) do run[k] = v end
run.finished = true
put('runs', ARGV[1], run)
redis.call('SREM', P .. 'running:' .. run.owner, ARGV[1])
redis.call('HINCRBY', P .. 'counts', run.schedule .. '\\0' .. run.outcome, 1)
local s = get('states', run.schedule)
if not s then return 1 end
s.lastRunAt = run.startedAt
s.lastOutcome = run.outcome
if run.outcome == 'success' then s.lastSuccessAt = run.finishedAt s.consecutiveFailures = 0
elseif run.outcome ~= 'interrupted' then s.consecutiveFailures = (s.consecutiveFailures or 0) + 1 end
put('states', run.schedule, s)
return 1`);

/** ARGV: owner, now, name ('' = all). Returns the runs marked interrupted (JSON each). */
export const ABANDON_RUNS = once(`
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'running:' .. ARGV[1])) do
  local run = get('runs', id)
  if not run then redis.call('SREM', P .. 'running:' .. ARGV[1], id)
  elseif run.outcome == 'running' and (ARGV[3] == '' or run.schedule == ARGV[3]) then
    run.outcome, run.finishedAt = 'interrupted', tonumber(ARGV[2])
    run.errorCode, run.errorMessage = 'E_INTERRUPTED', 'The daemon running it stopped before it finished.'
    put('runs', id, run)
    redis.call('SREM', P .. 'running:' .. ARGV[1], id)
    redis.call('HINCRBY', P .. 'counts', run.schedule .. '\\0interrupted', 1)
    table.insert(out, cjson.encode(run))
  end
end
return out`);
