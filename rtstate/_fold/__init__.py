"""The parts of the fold, one module each; ``rtstate.fold`` is the entry and the
dispatch, and the only public name is its ``fold``.

From the bottom up: ``_base`` (what every handler shares: the ``_Out`` collector,
``_Rejected``, the table checks), ``_ledger`` (the ledger of client events, as pure
functions over ``Ledger``), ``_barge_in`` (playback and interruption planning),
``_deltas`` (the streaming deltas' fast path and its plain reference), then the
entity handlers: ``_items``, ``_parts``, ``_calls``, ``_mcp`` (GA's MCP items),
``_responses``, ``_sends`` (client events as sent, and their rollback), ``_session``,
``_input_buffer``, ``_local``.
A module imports only modules listed before it.
"""
