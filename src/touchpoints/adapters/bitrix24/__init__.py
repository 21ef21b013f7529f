"""The Bitrix24 REST adapter: OAuth, batching, paging, throttling and error mapping."""
