# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The implementation of layer:coordinator; charms import ``charms.coordinator``.

One responsibility per module, in the order a hook uses them:

- ``quiet``: whether this hook may skip everything below (an idle non-leader
  in a hook that can bring it no news), from the environment and unitdata;
- ``options``: the layer options, checked once, and the layer's logger;
- ``wire``: keys, timestamps, JSON: the only module that knows the format;
- ``transport``: where the data lives (the peer relation's application
  databag and unit settings);
- ``core``: the pure decisions: which grants end, which requests are granted
  (its docstring holds the glossary);
- ``shell``: one hook's coordinator: load through the transport, decide,
  save what changed (``LayerCoordinator``, ``SimpleCoordinator``);
- ``status``: the waiting status;
- ``actions``: the operator actions.
"""
