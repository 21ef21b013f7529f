"""The chat-bot methods of the Bitrix24 emulator (``imbot.v2.*``, BITRIX24.md §22.1).

Registered into the emulator's method table on import; the bot's state lives on the
portal (``chat_bots``, ``bot_messages``). Presses of its buttons are posted by
``Bitrix24Emulator.press_bot_button`` as ``ONIMBOTV2COMMANDADD`` events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.fakes.b24_methods import Call, Reply, method
from tests.fakes.b24_wire import RestError, as_list, get_ci, php_str, to_flag, to_int
from tests.fakes.b24_world import OUR_APP, BotChatMessage, ChatBot

TEXT_MAX = 20_000  # longer text is cut and " (...)" appended (§22.1.3)
KEYBOARD_MAX = 30_000  # the v1 pages' 30 KB; the v2 figure is unclear (§22.7.2)
_ACTIONS = ("LINK", "COMMAND", "ACTION", "APP_ID")


def _fields(call: Call) -> Mapping[str, Any]:
    fields = call.params.get("fields")
    return fields if isinstance(fields, Mapping) else {}


def _own_bot(call: Call) -> ChatBot:
    bot_id = to_int(call.params.get("botId"))
    if bot_id is None:
        raise RestError("BOT_ID_REQUIRED", "Bot ID is required", 400)
    bot = call.portal.chat_bots.get(bot_id)
    if bot is None:
        raise RestError("BOT_NOT_FOUND", "Bot not found", 400)
    if bot.app != OUR_APP:
        raise RestError("BOT_OWNERSHIP_ERROR", "Bot is registered by another application", 403)
    return bot


@method("imbot.v2.Bot.register", "imbot")
def bot_register(call: Call) -> Reply:
    fields = _fields(call)
    code = php_str(fields.get("code")).strip()
    if not code:
        raise RestError("BOT_CODE_REQUIRED", "Bot code is required", 400)
    properties = fields.get("properties")
    if not isinstance(properties, Mapping) or not php_str(properties.get("name")).strip():
        raise RestError("BOT_PROPERTIES_REQUIRED", "Bot properties are required", 400)
    for bot in call.portal.chat_bots.values():
        if bot.code == code:
            if bot.app != OUR_APP:
                raise RestError("BOT_CODE_ALREADY_TAKEN", "Bot code is already taken", 400)
            # Idempotent per code: the existing bot, unchanged (§22.1.1).
            return Reply({"bot": _bot_view(bot), "users": []})
    mode = php_str(fields.get("eventMode") or "fetch").lower()
    if mode not in {"fetch", "webhook"}:
        raise RestError("BOT_INVALID_EVENT_MODE", "Invalid event mode", 400)
    url = php_str(fields.get("webhookUrl")).strip()
    if mode == "webhook" and not url:
        raise RestError("BOT_WEBHOOK_URL_REQUIRED", "Webhook URL is required", 400)
    bot = ChatBot(
        id=call.portal.seq("bot", start=900),
        code=code,
        app=OUR_APP,
        name=php_str(properties.get("name")),
        event_mode=mode,
        webhook_url=url,
    )
    call.portal.chat_bots[bot.id] = bot
    return Reply({"bot": _bot_view(bot), "users": []})


def _bot_view(bot: ChatBot) -> dict[str, Any]:
    return {
        "id": bot.id,
        "code": bot.code,
        "type": "bot",
        "isHidden": False,
        "isSupportOpenline": False,
        "isReactionsEnabled": True,
        "backgroundId": None,
        "language": "en",
        "moduleId": "rest",
        "eventMode": bot.event_mode,
    }


@method("imbot.v2.Bot.update", "imbot")
def bot_update(call: Call) -> Reply:
    """The bot's properties, event mode and webhook URL changed (§22.1.1: a second
    register answers the existing bot unchanged)."""
    bot = _own_bot(call)
    fields = _fields(call)
    if not fields:
        raise RestError("FIELDS_REQUIRED", "Fields are required", 400)
    mode = php_str(fields.get("eventMode") or bot.event_mode).lower()
    if mode not in {"fetch", "webhook"}:
        raise RestError("BOT_INVALID_EVENT_MODE", "Invalid event mode", 400)
    url = php_str(fields.get("webhookUrl") or bot.webhook_url).strip()
    if mode == "webhook" and not url:
        raise RestError("BOT_INVALID_CALLBACK", "Invalid callback URL", 400)
    properties = fields.get("properties")
    name = php_str(properties.get("name")).strip() if isinstance(properties, Mapping) else ""
    bot.event_mode, bot.webhook_url = mode, url
    if name:
        bot.name = name
    return Reply({"bot": _bot_view(bot), "users": [{"id": bot.id, "active": True, "bot": True}]})


@method("imbot.v2.Bot.get", "imbot")
def bot_get(call: Call) -> Reply:
    """By ``botId`` or ``code``; ``BOT_NOT_FOUND`` once the bot is gone (§22.1.2)."""
    bot_id = to_int(call.params.get("botId"))
    code = php_str(call.params.get("code")).strip()
    if bot_id is None and not code:
        raise RestError("PARAMS_REQUIRED", "botId or code is required", 400)
    for bot in call.portal.chat_bots.values():
        if bot.id == bot_id or (bot_id is None and bot.code == code):
            view = _bot_view(bot)
            if bot.app == OUR_APP:
                view["appId"] = OUR_APP
            return Reply({"bot": view, "users": [{"id": bot.id, "active": True, "bot": True}]})
    raise RestError("BOT_NOT_FOUND", "Bot not found", 400)


@method("imbot.v2.Bot.unregister", "imbot")
def bot_unregister(call: Call) -> Reply:
    bot = _own_bot(call)
    del call.portal.chat_bots[bot.id]
    for message_id in [m.id for m in call.portal.bot_messages.values() if m.bot_id == bot.id]:
        del call.portal.bot_messages[message_id]  # its chats go with it (§22.1.2)
    return Reply({"result": True})


@method("imbot.v2.Command.register", "imbot")
def command_register(call: Call) -> Reply:
    bot = _own_bot(call)
    fields = _fields(call)
    command = php_str(fields.get("command")).strip().lstrip("/")
    if not command:
        raise RestError("COMMAND_REQUIRED", "Command is required", 400)
    if not command.isalnum() or not command.isascii():
        raise RestError("COMMAND_NAME_INVALID", "Command name is invalid", 400)
    hidden = to_flag(fields.get("hidden"))
    if not hidden and not fields.get("title"):
        raise RestError("COMMAND_TITLE_REQUIRED", "Command title is required", 400)
    if command not in bot.commands:  # idempotent per command (§22.1.7)
        bot.commands[command] = call.portal.seq("bot_command", start=70)
        if hidden:
            bot.hidden.add(command)
    return Reply(
        {
            "command": {
                "id": bot.commands[command],
                "botId": bot.id,
                "command": f"/{command}",
                "common": False,
                "hidden": command in bot.hidden,
                "extranetSupport": False,
            }
        }
    )


def _keyboard(bot: ChatBot, raw: Any) -> list[dict[str, Any]]:
    """The buttons of a KEYBOARD value: a JSON string, ``{BUTTONS}`` or a bare array (§22.1.5)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise RestError("KEYBOARD_ERROR", "Incorrect keyboard params", 400) from exc
    if isinstance(raw, Mapping) and "BUTTONS" in raw:
        owner = to_int(raw.get("BOT_ID"))
        if owner not in (None, bot.id):
            raise RestError("KEYBOARD_ERROR", "Keyboard of another bot", 400)
        raw = raw["BUTTONS"]
    buttons = [dict(b) for b in as_list(raw) if isinstance(b, Mapping)]
    if len(json.dumps(buttons, ensure_ascii=False)) > KEYBOARD_MAX:
        raise RestError("KEYBOARD_OVERSIZE", "Keyboard is too large", 400)
    for button in buttons:
        if php_str(button.get("TYPE")).upper() == "NEWLINE":
            continue
        actions = [name for name in _ACTIONS if php_str(button.get(name))]
        if not php_str(button.get("TEXT")) or len(actions) != 1:
            raise RestError("KEYBOARD_ERROR", "A button needs TEXT and one action", 400)
        if actions == ["COMMAND"] and php_str(button["COMMAND"]).lstrip("/") not in bot.commands:
            raise RestError("KEYBOARD_ERROR", "The command is not registered", 400)
        link = php_str(button.get("LINK"))
        if link and not link.startswith(("http://", "https://", "/")):
            raise RestError("KEYBOARD_ERROR", "Links must be http(s) or /relative", 400)
    return buttons


def _text(fields: Mapping[str, Any]) -> str:
    text = php_str(fields.get("message")).strip()
    return text if len(text) <= TEXT_MAX else text[:TEXT_MAX] + " (...)"


@method("imbot.v2.Chat.Message.send", "imbot")
def message_send(call: Call) -> Reply:
    bot = _own_bot(call)
    dialog = php_str(call.params.get("dialogId")).strip()
    user_id = to_int(dialog)
    if not dialog:
        raise RestError("DIALOG_ID_EMPTY", "Dialog ID can't be empty", 400)
    fields = _fields(call)
    text = _text(fields)
    if not text and not fields.get("attach"):
        raise RestError("EMPTY_MESSAGE", "Message is empty", 400)
    keyboard = _keyboard(bot, fields.get("keyboard")) if fields.get("keyboard") else []
    user = call.portal.users.get(user_id or 0)
    if user is None or not user.active:
        raise RestError("ACCESS_DENIED", "Access denied", 403)
    message = BotChatMessage(
        id=call.portal.seq("im"),
        bot_id=bot.id,
        user_id=user.id,
        text=text,
        keyboard=keyboard,
        system=to_flag(fields.get("system")),
        created_at=call.core.now(),
    )
    call.portal.bot_messages[message.id] = message
    return Reply({"id": message.id, "uuidMap": []})


@method("imbot.v2.Chat.Message.update", "imbot")
def message_update(call: Call) -> Reply:
    bot = _own_bot(call)
    message = call.portal.bot_messages.get(to_int(call.params.get("messageId")) or 0)
    # Only the bot's own, non-system messages can be edited (§22.1.4).
    if message is None or message.bot_id != bot.id or message.system:
        raise RestError("ACCESS_DENIED", "Access denied", 403)
    fields = _fields(call)
    if "message" in fields:
        text = _text(fields)
        if text:
            message.text = text
    if "keyboard" in fields:
        raw = fields["keyboard"]
        message.keyboard = [] if php_str(raw).upper() in {"N", ""} else _keyboard(bot, raw)
    message.updates += 1
    return Reply({"result": True})


def keyboard_param(raw: Any) -> str:
    """A button's COMMAND_PARAMS as it goes out in the press event."""
    return php_str(get_ci(raw, "COMMAND_PARAMS")) if isinstance(raw, Mapping) else ""
