"""The operator service: intake, netting, close, prove, submit (:mod:`.service`), its
HTTP API (:mod:`.api`, authenticated by :mod:`.auth`; members sign with :mod:`.signing`),
its database (:mod:`.store`), its process (:mod:`.run`) and its rebuild from the chain
(:mod:`.recover`). Nothing is imported here: the member client loads :mod:`.signing`
without the server."""
