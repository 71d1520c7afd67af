"""Opening a search from what a user names: a pool, example images per category, a teacher.

  <state_dir>/cache/     the pool cache (pool_cache), built on first open
  <state_dir>/...        the state (state.py, its lock held while the search runs), and current/ the
                         model after the latest round (a link to published/<round>/, switched atomically)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bgsplit_tf.data import image_files
from bgsplit_tf.models import pretrained
from bgsplit_tf.search import loop, pool_cache, rounds, server, state as state_lib


def parse_examples(specs: list[str]) -> dict[str, list[str]]:
    """["fox=a.jpg,b.jpg", "owl=c.jpg"] -> {"fox": ["a.jpg", "b.jpg"], "owl": ["c.jpg"]}; ValueError naming
    the form for anything else."""
    examples: dict[str, list[str]] = {}
    for spec in specs:
        category, _, paths = spec.partition("=")
        files = [p for p in paths.split(",") if p]
        if not category or not files:
            raise ValueError(f"--examples={spec!r}: write category=path[,path...], e.g. lynx=/photos/l1.jpg")
        examples.setdefault(category, []).extend(files)
    return examples


def encode_examples(examples: dict[str, list[str]], teacher, cache: pool_cache.PoolCache,
                    config: rounds.RoundConfig) -> rounds.Examples:
    """The example files from outside the pool as the round network takes them (pool_cache.encoder's maps,
    or pixels for trainable "all"; categories in the order given: main labels 1..K); a file that does not
    decode is an error naming it."""
    encode = pool_cache.encoder(teacher, cache.split_layer)
    image_size = tuple(teacher.input_shape[1:3])
    maps, labels, teacher_labels = [], [], []
    in_pool = set(cache.items)
    for k, (category, paths) in enumerate(examples.items(), start=1):
        for path in paths:
            if path in in_pool:  # labelled yes in the state instead (open_session)
                continue
            try:
                pixels = image_files.decode_file(tf.constant(path), image_size)
            except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
                raise ValueError(f"example image {path} (for {category}) does not decode: "
                                 f"{error.message.splitlines()[0]}") from None
            batch_maps, batch_teacher, _ = encode(pixels[None])
            maps.append(pixels.numpy() if config.trainable == "all" else batch_maps.numpy()[0])
            teacher_labels.append(int(batch_teacher.numpy()[0]))
            labels.append(k)
    if not maps:
        return rounds.Examples.none(cache, config)
    return rounds.Examples(np.stack(maps), np.array(labels, np.int32), np.array(teacher_labels, np.int32))


def open_session(state_dir: str, pool: str, examples: dict[str, list[str]], teacher_spec: str,
                 config: rounds.RoundConfig, data_dir: str | None = None, who: str = "web") -> server.SearchSession:
    """Opens (or resumes) the search and returns the page's session; the first round starts training at
    once when none has finished. After each round the current model is saved for bgsplit-export. The
    session holds the state folder's lock (StateInUse if another process does) until session.close()
    or the end of the process."""
    lock = state_lib.StateLock(state_dir)
    teacher = pretrained.load(teacher_spec)
    state = state_lib.open_state(state_dir, {"pool": pool, "categories": list(examples), "teacher": teacher_spec,
                                             "aux_weight": config.aux_weight, "trainable": config.trainable,
                                             "examples": examples})
    cache = pool_cache.build_pool_cache(state.root / "cache", pool, teacher, teacher_spec, data_dir=data_dir,
                                        keep_pixels=config.trainable == "all")
    labelled = state.labels()
    for category, paths in examples.items():  # an example that is a pool image is a labelled positive, never shown
        for path in set(paths) & set(cache.items):
            if (path, category) not in labelled:
                state.add(path, category, "yes", state_lib.EXAMPLE_LABELLER, -1)
    search = loop.Search(state, cache, teacher, encode_examples(examples, teacher, cache, config), config)
    session = server.SearchSession(search, pool, tuple(teacher.input_shape[1:3]), data_dir, who,
                                   on_round=lambda summary: loop.write_current_model(search, teacher, summary["round"]),
                                   lock=lock)
    if state.finished_rounds() == 0:
        session.start_round()
    return session
