"""One client address cannot take every inbound SMTP session (real server on 127.0.0.1:0, raw sockets): beyond
``[smtp] max_connections_per_client`` it gets 421 while other addresses are still served, and a session that says
nothing is closed after ``idle_timeout``."""

from __future__ import annotations

from tests.support.letters import Client, World


async def test_idle_sessions_from_one_address_leave_room_for_others(world: World) -> None:
    async with world.inbound_server(max_connections=5, max_connections_per_client=2) as (server, port):
        opened: list[Client] = []
        try:
            for _ in range(2):
                opened.append(await Client.open(port, "127.0.0.1"))
                assert (await opened[-1].reply()).startswith("220")
            greedy = await Client.open(port, "127.0.0.1")
            opened.append(greedy)
            answer = await greedy.reply()
            assert answer.startswith("421") and "from your address" in answer and await greedy.closed_by_server()
            other = await Client.open(port, "127.0.0.2")  # another client is still welcome
            opened.append(other)
            assert (await other.reply()).startswith("220")
            assert (await other.say(b"EHLO other.example\r\n")).startswith("250")
            assert server.per_client == {"127.0.0.1": 2, "127.0.0.2": 1}
            assert (await opened[0].say(b"QUIT\r\n")).startswith("221") and await opened[0].closed_by_server()
            again = await Client.open(port, "127.0.0.1")  # a slot of this address is free again
            opened.append(again)
            assert (await again.reply()).startswith("220")
        finally:
            for c in opened:
                await c.close()


async def test_silent_session_is_closed_after_the_idle_timeout(world: World) -> None:
    async with world.inbound_server(idle_timeout=1) as (server, port):
        silent = await Client.open(port, "127.0.0.1")
        assert (await silent.reply()).startswith("220")
        assert await silent.closed_by_server()  # aiosmtpd hangs up without a word
        await silent.close()
        assert server.active == 0 and server.per_client == {}
