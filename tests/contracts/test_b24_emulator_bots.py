"""The emulator's chat-bot methods answer as BITRIX24.md §22.1 documents ``imbot.v2``."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.fakes.bitrix24 import Bitrix24Emulator

SCOPE = "crm,im,imbot,user_brief"


class Portal:
    def __init__(self, b24: Bitrix24Emulator, http: aiohttp.ClientSession) -> None:
        launch = b24.install(scope=SCOPE)
        self.member_id = launch.form["member_id"]
        self.endpoint = b24.portal_endpoint(self.member_id)
        self.token = launch.form["AUTH_ID"]
        self.http = http
        b24.add_user(self.member_id, 2)

    async def call(self, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(
            self.endpoint + method, json={**params, "auth": self.token}
        ) as response:
            return response.status, await response.json()

    async def bot(self) -> int:
        status, body = await self.call(
            "imbot.v2.Bot.register",
            fields={
                "code": "touchpoints",
                "eventMode": "webhook",
                "webhookUrl": "https://app.example/b24/bot",
                "properties": {"name": "Touch-points"},
            },
        )
        assert status == 200, body
        bot_id: int = body["result"]["bot"]["id"]
        return bot_id


@pytest.fixture
def portal(b24: Bitrix24Emulator, http: aiohttp.ClientSession) -> Portal:
    return Portal(b24, http)


async def test_registering_a_bot_twice_answers_the_same_bot(portal: Portal) -> None:
    assert await portal.bot() == await portal.bot()


async def test_webhook_mode_needs_a_webhook_url(portal: Portal) -> None:
    status, body = await portal.call(
        "imbot.v2.Bot.register",
        fields={"code": "x", "eventMode": "webhook", "properties": {"name": "X"}},
    )
    assert (status, body["error"]) == (400, "BOT_WEBHOOK_URL_REQUIRED")


async def test_a_keyboard_may_only_call_registered_commands(portal: Portal) -> None:
    bot_id = await portal.bot()
    keyboard = {"BOT_ID": bot_id, "BUTTONS": [{"TEXT": "Go", "COMMAND": "go"}]}
    fields = {"message": "Hello", "keyboard": keyboard}
    status, body = await portal.call(
        "imbot.v2.Chat.Message.send", botId=bot_id, dialogId="2", fields=fields
    )
    assert (status, body["error"]) == (400, "KEYBOARD_ERROR")
    status, body = await portal.call(
        "imbot.v2.Command.register", botId=bot_id, fields={"command": "go", "hidden": "Y"}
    )
    assert status == 200, body
    status, body = await portal.call(
        "imbot.v2.Chat.Message.send", botId=bot_id, dialogId="2", fields=fields
    )
    assert status == 200, body
    assert body["result"]["id"] > 0


async def test_a_long_text_is_cut_and_marked_and_a_system_message_cannot_be_edited(
    b24: Bitrix24Emulator, portal: Portal
) -> None:
    bot_id = await portal.bot()
    status, body = await portal.call(
        "imbot.v2.Chat.Message.send",
        botId=bot_id,
        dialogId="2",
        fields={"message": "x" * 20_001, "system": "Y"},
    )
    assert status == 200, body
    [message] = b24.bot_chat(portal.member_id, 2)
    assert message.text == "x" * 20_000 + " (...)"
    status, body = await portal.call(
        "imbot.v2.Chat.Message.update",
        botId=bot_id,
        messageId=body["result"]["id"],
        fields={"message": "edited"},
    )
    assert (status, body["error"]) == (403, "ACCESS_DENIED")


async def test_without_the_imbot_scope_a_bot_cannot_be_registered(
    b24: Bitrix24Emulator, portal: Portal
) -> None:
    b24.set_scope(portal.member_id, "crm,im")
    portal.token = b24.issue_tokens(portal.member_id, 1).access_token
    status, body = await portal.call(
        "imbot.v2.Bot.register", fields={"code": "x", "properties": {"name": "X"}}
    )
    assert (status, body["error"]) == (403, "insufficient_scope")
