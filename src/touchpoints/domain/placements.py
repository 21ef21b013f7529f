"""Where the app sits in Bitrix24 beyond the card tabs: the placement codes it binds
(DESIGN.md §3.7, BITRIX24.md §22.2) and the menu labels Bitrix24 shows for them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from touchpoints.domain.model import EntityType, OwnerType, SmartProcess

ANALYTICS_MENU = "CRM_ANALYTICS_MENU"
# Links into the app, ``/marketplace/view/<app code>/?params[...]`` (BITRIX24.md §22.1.11):
# one handler per app.
APP_LINK = "REST_APP_URI"

# The timeline's activity menu is documented for leads, deals and smart processes, not for
# contacts or companies (BITRIX24.md §22.2.3, §22.7 item 5).
TIMELINE_MENU_OWNERS = (OwnerType.LEAD, OwnerType.DEAL)


def has_timeline_menu(owner_type: EntityType) -> bool:
    return owner_type in TIMELINE_MENU_OWNERS or isinstance(owner_type, SmartProcess)


def detail_tab(owner_type: EntityType) -> str:
    """``CRM_<TYPE>_DETAIL_TAB``: a tab in the record's card (BITRIX24.md §10.2, §22.2.4)."""
    return f"CRM_{owner_type.name}_DETAIL_TAB"


def timeline_menu(owner_type: EntityType) -> str:
    """``CRM_<TYPE>_ACTIVITY_TIMELINE_MENU``: an activity's "•••" menu in the card's timeline."""
    return f"CRM_{owner_type.name}_ACTIVITY_TIMELINE_MENU"


def list_menu(owner_type: EntityType) -> str:
    """``CRM_<TYPE>_LIST_MENU``: a row's menu in the CRM list."""
    return f"CRM_{owner_type.name}_LIST_MENU"


_TITLES: Mapping[str, Mapping[str, str]] = {
    "timeline": {"en": "Touch-point", "ru": "Касание"},
    "list": {"en": "Schedule a touch-point", "ru": "Запланировать касание"},
    "analytics": {"en": "Touch-points reports", "ru": "Отчёты по касаниям"},
}


@attrs.frozen(kw_only=True)
class MenuBinding:
    """One menu placement to bind (``bind``) or to unbind (its entity is disabled)."""

    code: str
    titles: Mapping[str, str]
    bind: bool

    @property
    def title(self) -> str:
        return self.titles["en"]


def menu_bindings(
    enabled: Iterable[EntityType], previous: Iterable[EntityType] = ()
) -> list[MenuBinding]:
    """The menus of the four entities (bound when enabled), of the enabled smart processes
    and of those no longer enabled (unbound), and the analytics menu."""
    enabled_set = frozenset(enabled)
    kinds: dict[EntityType, None] = dict.fromkeys(OwnerType)
    kinds.update(dict.fromkeys(previous))
    kinds.update(dict.fromkeys(enabled_set))
    found: list[MenuBinding] = []
    for owner_type in kinds:
        bind = owner_type in enabled_set
        if has_timeline_menu(owner_type):
            found.append(
                MenuBinding(code=timeline_menu(owner_type), titles=_TITLES["timeline"], bind=bind)
            )
        found.append(MenuBinding(code=list_menu(owner_type), titles=_TITLES["list"], bind=bind))
    found.append(MenuBinding(code=ANALYTICS_MENU, titles=_TITLES["analytics"], bind=True))
    return found
