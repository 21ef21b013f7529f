"""The digest bot over ``imbot.v2.*``: registration, messages with keyboards (BITRIX24.md §22.1)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from touchpoints.adapters.bitrix24.batch import BatchReply, Command, run_commands, send_each
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.wire import WireError, as_dict, to_int
from touchpoints.domain.bot import BotButton
from touchpoints.domain.portal import Portal
from touchpoints.ports.crm import CrmError, CrmPermissionDenied
from touchpoints.ports.messaging import (
    BotDelivery,
    BotMessage,
    BotSpec,
    BotUnavailable,
)

if TYPE_CHECKING:
    from touchpoints.ports.messaging import BotChannel

log = logging.getLogger("touchpoints.bot")

# The scope errors of a token without ``imbot`` (§22.0: every imbot.v2 method needs it).
_NO_SCOPE = frozenset({"insufficient_scope", "invalid_scope"})
_UPDATE = "update"  # the batch command that brings an existing bot up to date


def keyboard(buttons: Sequence[BotButton], bot_id: int) -> dict[str, Any]:
    """The KEYBOARD object, with ``BOT_ID`` beside ``BUTTONS`` so commands reach us (§1.5)."""
    rows: list[dict[str, Any]] = []
    for button in buttons:
        if button.newline:
            rows.append({"TYPE": "NEWLINE"})
        elif button.command is not None:
            # BLOCK=Y: the button locks after one press (COMMAND buttons only, §1.5).
            rows.append(
                {
                    "TEXT": button.text,
                    "COMMAND": button.command,
                    "COMMAND_PARAMS": button.params,
                    "BLOCK": "Y",
                    "DISPLAY": "LINE",
                }
            )
        else:
            rows.append({"TEXT": button.text, "LINK": button.link or "", "DISPLAY": "LINE"})
    return {"BOT_ID": bot_id, "BUTTONS": rows}


def _message_command(bot_id: int, message: BotMessage) -> Command:
    fields: dict[str, Any] = {"message": message.text, "urlPreview": "N"}
    # An empty keyboard removes the buttons on update ("N", §1.4) and is left out on send.
    if message.keyboard:
        # As a JSON string (one of the documented forms, §22.1.5): one form field instead of
        # dozens, which a batch command would otherwise percent-encode one by one.
        fields["keyboard"] = json.dumps(
            keyboard(message.keyboard, bot_id), ensure_ascii=False, separators=(",", ":")
        )
    elif message.message_id is not None:
        fields["keyboard"] = "N"
    if message.message_id is not None:
        return Command(
            "imbot.v2.Chat.Message.update",
            {"botId": bot_id, "messageId": message.message_id, "fields": fields},
        )
    # system=false: a system message has no author and cannot be edited later (§1.4).
    fields["system"] = "N"
    return Command(
        "imbot.v2.Chat.Message.send",
        {"botId": bot_id, "dialogId": str(message.user_id), "fields": fields},
    )


class BitrixBotChannel:
    """Implements ``BotChannel`` with the portal's stored (app) tokens.

    With OAuth no ``botToken`` is needed: the bot belongs to our ``client_id`` (§22.0).
    """

    def __init__(self, connector: BitrixConnector) -> None:
        self._connector = connector

    def __repr__(self) -> str:
        return "BitrixBotChannel()"

    async def register(self, portal: Portal, spec: BotSpec) -> int:
        client = self._connector.app_client(portal)
        names = dict(spec.names)
        try:
            # Idempotent per code: a second call answers the existing bot (§1.1).
            reply = await client.call(
                "imbot.v2.Bot.register",
                {
                    "fields": {
                        "code": spec.code,
                        "type": "bot",
                        "eventMode": "webhook",
                        "webhookUrl": spec.webhook_url,
                        "properties": {"name": names.get("en", spec.code)},
                    }
                },
                safe=True,
            )
        except CrmPermissionDenied as exc:
            if exc.code.lower() in _NO_SCOPE:
                raise BotUnavailable(exc.code) from exc
            raise
        try:
            bot_id = to_int(as_dict(as_dict(reply.result).get("bot")).get("id"))
        except WireError as exc:
            raise CrmError("imbot.v2.Bot.register: no bot id in the reply") from exc
        if bot_id <= 0:
            raise CrmError("imbot.v2.Bot.register: no bot id in the reply")
        commands = {
            f"c{index}": Command(
                "imbot.v2.Command.register",
                {"botId": bot_id, "fields": {"command": name, "hidden": "Y", "common": "N"}},
            )
            for index, name in enumerate(spec.commands)
        }
        # A second register answers the existing bot unchanged (§22.1.1): what changed since
        # (the public URL, the name) reaches Bitrix24 only through an update, in the same batch.
        commands[_UPDATE] = Command(
            "imbot.v2.Bot.update",
            {
                "botId": bot_id,
                "fields": {
                    "eventMode": "webhook",
                    "webhookUrl": spec.webhook_url,
                    "properties": {"name": names.get("en", spec.code)},
                },
            },
        )
        registered = await run_commands(client, commands, safe=True)
        errors = {key: error for key, error in registered.errors.items() if key != _UPDATE}
        if errors:
            raise next(iter(errors.values()))
        if (refused := registered.errors.get(_UPDATE)) is not None:
            # The bot works as registered; a later update of the app tries again.
            log.warning(
                "bot registered but not updated: %s",
                refused.code or type(refused).__name__,
                extra={"portal_id": portal.id},
            )
        return bot_id

    async def is_registered(self, portal: Portal, bot_id: int) -> bool:
        client = self._connector.app_client(portal)
        try:
            reply = await client.call("imbot.v2.Bot.get", {"botId": bot_id}, safe=True)
        except CrmError as exc:
            if exc.code.upper() == "BOT_NOT_FOUND":
                return False
            raise
        try:
            found = to_int(as_dict(as_dict(reply.result).get("bot")).get("id"))
        except WireError as exc:
            raise CrmError("imbot.v2.Bot.get: no bot in the reply") from exc
        return found == bot_id

    async def send(
        self, portal: Portal, bot_id: int, messages: Sequence[BotMessage]
    ) -> list[BotDelivery]:
        return await send_each(
            self._connector.app_client(portal),
            messages,
            key="m",
            command=lambda message: _message_command(bot_id, message),
            # Not safe to repeat: a lost answer must not send every message twice.
            safe=False,
            outcome=_delivery,
            failed=lambda m, code: BotDelivery(user_id=m.user_id, ok=False, error=code),
        )

    async def clear_keyboards(
        self, portal: Portal, bot_id: int, message_ids: Sequence[int]
    ) -> None:
        if not message_ids:
            return
        commands = {
            f"k{index}": Command(
                "imbot.v2.Chat.Message.update",
                {"botId": bot_id, "messageId": message_id, "fields": {"keyboard": "N"}},
            )
            for index, message_id in enumerate(message_ids)
        }
        # Safe to repeat; a message past the edit window answers an error that changes nothing.
        await run_commands(self._connector.app_client(portal), commands, safe=True)


def _delivery(message: BotMessage, key: str, reply: BatchReply) -> BotDelivery:
    results, errors = reply.results, reply.errors
    if key in errors:
        return BotDelivery(user_id=message.user_id, ok=False, error=errors[key].code or "ERROR")
    if key not in results:
        return BotDelivery(user_id=message.user_id, ok=False, error="NOT_RUN")
    if message.message_id is not None:
        ok = as_dict(results[key]).get("result") not in (False, None, 0, "0", "")
        return BotDelivery(user_id=message.user_id, ok=ok, message_id=message.message_id)
    try:
        message_id = to_int(as_dict(results[key]).get("id"))
    except WireError:
        message_id = None
    if message_id is None or message_id <= 0:
        return BotDelivery(user_id=message.user_id, ok=False, error="NOT_CREATED")
    return BotDelivery(user_id=message.user_id, ok=True, message_id=message_id)


if TYPE_CHECKING:  # mypy checks that the adapter conforms to the port

    def _conforms(connector: BitrixConnector) -> BotChannel:
        return BitrixBotChannel(connector)
