"""The Lua scripts that publish to and read a group's stream in Redis, atomically.

A group's keys share one hash tag (``<prefix>:meta:{<group>}``,
``<prefix>:stream:{<group>}``, the channel ``<prefix>:group:{<group>}``), so a
script touches one hash slot: a Redis Cluster runs it on the node that owns
the group.

**Epochs.** The meta hash holds the group's epoch, its last offset (``head``)
and the ``master_replid`` of the primary that numbered it (``INFO
replication``, read by the script itself). A primary that did not number the
group before -- a replica promoted after a failover, which may lack the last
messages its primary had acknowledged; a server restarted from a dump older
than its last writes; a Cluster node the group's slot moved to -- could hand
out offsets that were already delivered. So it starts a new epoch from offset
1, deleting the stream, and records where the old one stood (``prev``,
``epoch:head``): a worker whose cursor is exactly there goes on without a
gap; one that is behind it tells its members (a reset); a client that resumes
from exactly there resumes.
"""

from __future__ import annotations

__all__ = ["PUBLISH_SCRIPT", "READ_SCRIPT"]

#: KEYS: meta, stream, channel.
#: ARGV: a new epoch, wire, history length, age (ms), meta TTL (ms), the publish
#: command (PUBLISH, or SPUBLISH in a Cluster). Returns {epoch, offset}.
PUBLISH_SCRIPT = """
local meta, stream, channel = KEYS[1], KEYS[2], KEYS[3]
local length = tonumber(ARGV[3])
local replid = string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)') or ''
local state = redis.call('HMGET', meta, 'epoch', 'head', 'replid')
if not state[1] then
  redis.call('DEL', stream)  -- a new epoch: nothing of an older stream may remain
  redis.call('HSET', meta, 'epoch', ARGV[1], 'head', 0, 'replid', replid)
elseif state[3] ~= replid then
  -- Another primary: its offsets may repeat delivered ones. A new epoch, after the old.
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'epoch', ARGV[1], 'head', 0, 'replid', replid,
             'prev', state[1] .. ':' .. (state[2] or '0'))
end
local epoch = redis.call('HGET', meta, 'epoch')
local offset = redis.call('HINCRBY', meta, 'head', 1)
redis.call('PEXPIRE', meta, ARGV[5])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if length > 0 then
  redis.call('XADD', stream, 'MAXLEN', '~', length, offset .. '-0', 't', ms, 'w', ARGV[2])
  redis.call('PEXPIRE', stream, ARGV[4])
end
redis.call(ARGV[6], channel, epoch .. ':' .. offset .. ':' .. ms .. ':' .. ARGV[2])
return {epoch, offset}
"""

#: KEYS: meta, stream. ARGV: after (offset), age (ms).
#: Returns {epoch or false, head, prev or false, offset, wire, offset, wire...}.
READ_SCRIPT = """
local meta, stream = KEYS[1], KEYS[2]
local state = redis.call('HMGET', meta, 'epoch', 'head', 'prev')
if not state[1] then
  return {false, 0, false}
end
local now = redis.call('TIME')
local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2])
local result = {state[1], tonumber(state[2]), state[3]}
for _, item in ipairs(redis.call('XRANGE', stream, (tonumber(ARGV[1]) + 1) .. '-0', '+')) do
  local fields = item[2]
  if tonumber(fields[2]) >= oldest then
    table.insert(result, tonumber(string.match(item[1], '^(%d+)')))
    table.insert(result, fields[4])
  end
end
return result
"""
