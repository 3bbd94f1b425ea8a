"""YAML read strictly: a key given twice in one mapping stops the run instead of the last one winning.

PyYAML keeps the last of two equal keys without a word, so a block pasted twice into config.yaml (two
``inputs:``) silently dropped the first: 191 coordinators vanished with exit status 0. Every YAML file the
pipeline is configured by is read through ``load_yaml``.
"""

from __future__ import annotations

from typing import Any

import yaml

from pipeline.core.errors import PipelineError

# libyaml's parser when PyYAML was built with it (the wheels are): the same documents, about 20 times
# faster than the pure-Python one, which every stage paid for the codebook and config at start-up.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """The document in ``text`` (safe types only); a key repeated in one mapping, at any depth, raises a
    PipelineError naming its dotted path and both lines. Malformed YAML raises ``yaml.YAMLError``."""
    # One parse: the node tree is checked for repeated keys, then constructed by the same loader.
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_repeated_keys(node, "")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _refuse_repeated_keys(node: yaml.Node, path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            where = f"{path}.{key}" if path else str(key)
            line = key_node.start_mark.line + 1
            if key is not None and key != "<<":
                if key in seen:
                    raise PipelineError(
                        f"key {where} is given twice (lines {seen[key]} and {line}); keep one"
                    )
                seen[key] = line
            _refuse_repeated_keys(value_node, where)
    elif isinstance(node, yaml.SequenceNode):
        for number, item in enumerate(node.value, start=1):
            _refuse_repeated_keys(item, f"{path}[{number}]")
