"""Carts as Redis hashes (`cart:<session>`: product id -> quantity), 24 h after the last change.

Limits (99 per line, 50 lines) are checked inside Redis by Lua scripts, so two tabs adding
at once cannot together pass a limit that each checked alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

TTL_SECONDS = 24 * 3600
MAX_QUANTITY = 99
MAX_LINES = 50

# Returns {code, quantity}: code 0 ok, 1 line over MAX_QUANTITY, 2 too many lines.
ADD = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local new = current + tonumber(ARGV[2])
if new > tonumber(ARGV[3]) then return {1, current} end
if current == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {2, current} end
redis.call('HSET', KEYS[1], ARGV[1], new)
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {0, new}
"""
SET = """
local qty = tonumber(ARGV[2])
if qty == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {0, 0}
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return {2, 0}
end
redis.call('HSET', KEYS[1], ARGV[1], qty)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {0, qty}
"""


class CartLimit(Exception):
    def __init__(self, code: int, current: int) -> None:
        super().__init__(code)
        self.code, self.current = code, current


@dataclass
class Cart:
    session_id: str
    items: list[tuple[int, int]]

    def json(self) -> dict:
        return {"session_id": self.session_id,
                "items": [{"product_id": p, "quantity": q} for p, q in self.items],
                "count": sum(q for _, q in self.items)}


class CartStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._add = client.register_script(ADD)
        self._set = client.register_script(SET)

    @staticmethod
    def key(session_id: str) -> str:
        return f"cart:{session_id}"

    async def get(self, session_id: str) -> Cart:
        raw = await self.client.hgetall(self.key(session_id))
        items = sorted((int(k), int(v)) for k, v in raw.items())
        return Cart(session_id, items)

    async def add(self, session_id: str, product_id: int, quantity: int) -> Cart:
        code, current = await self._add(
            keys=[self.key(session_id)],
            args=[product_id, quantity, MAX_QUANTITY, MAX_LINES, TTL_SECONDS])
        if code:
            raise CartLimit(code, current)
        return await self.get(session_id)

    async def set(self, session_id: str, product_id: int, quantity: int) -> Cart:
        code, current = await self._set(
            keys=[self.key(session_id)], args=[product_id, quantity, MAX_LINES, TTL_SECONDS])
        if code:
            raise CartLimit(code, current)
        return await self.get(session_id)

    async def remove(self, session_id: str, product_id: int) -> Cart:
        await self.client.hdel(self.key(session_id), str(product_id))
        return await self.get(session_id)

    async def clear(self, session_id: str) -> Cart:
        await self.client.delete(self.key(session_id))
        return Cart(session_id, [])
