"""Pool mining as a Beam pipeline (`bgsplit-predict --runner=...`): the outputs serving.mining writes, from
workers that share the pool.

  chunks of pool positions -> read and decode (DecodeChunks; bad images to a side output)
    -> RunInference(the exported SavedModel) -> scores per image
       -> all (position, item, scores) -> ranked.csv (in pool order, then ranked: ties as in one process)
       -> per rare class, the top --top_n (score, then earlier position) -> contact_sheet.png
  bad images -> skipped.txt;  then, here: summary.json

ranked.csv is written by one worker from every image's K scores (a few bytes per image: tens of millions
fit in a worker's memory); the pixels travel only with the candidates for the contact sheet, which each
worker narrows to --top_n per class before they meet.
"""

from __future__ import annotations

import pathlib
import time

import apache_beam as beam
import numpy as np
from absl import logging
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from bgsplit_tf.beam import handlers, options, reading
from bgsplit_tf.serving import mining


def mine(model_dir, images: str, output_dir, choice: options.RunnerChoice, batch_size: int = 64, top_n: int = 16,
         data_dir: str | None = None, image_key: str = "image", id_key: str = "id") -> dict:
    """serving.mining.mine on a Beam runner: the same ranked.csv, contact_sheet.png, skipped.txt and
    summary.json (which also names the runner)."""
    export = mining.open_export(model_dir)
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    reader = reading.PoolReader(images, export.image_size, data_dir, image_key, id_key, export.resize_mode)
    _, _, pool = mining.pool_examples(images, export.image_size, data_dir, image_key, id_key, export.resize_mode)
    logging.info("Mining %d images of %s on %s", len(pool), images, choice.runner)
    started = time.time()
    with beam.Pipeline(options=options.pipeline_options(choice)) as pipeline:
        decoded = (pipeline
                   | "Chunks" >> beam.Create(reading.chunks(len(pool)))
                   | "Spread" >> beam.Reshuffle()
                   | "Decode" >> beam.ParDo(reading.DecodeChunks(reader)).with_outputs(reading.BAD, main="images"))
        scored = decoded.images | "Score" >> RunInference(KeyedModelHandler(handlers.ExportHandler(str(export.path),
                                                                                                 batch_size)))
        (scored
         | "Scores" >> beam.Map(lambda kv: (kv[0][0], kv[0][1].decode(), kv[1].inference))
         | "AllScores" >> beam.combiners.ToList()
         | "WriteRanked" >> beam.Map(_write_ranked, output_dir, export))
        count = beam.pvalue.AsSingleton(scored | "Count" >> beam.combiners.Count.Globally())
        (scored
         | "Candidates" >> beam.FlatMap(_candidates)
         | "TopPerClass" >> beam.combiners.Top.PerKey(top_n, key=lambda candidate: (candidate[0], -candidate[1]))
         | "AllTop" >> beam.combiners.ToDict()
         | "WriteSheet" >> beam.Map(_write_sheet, output_dir, export, top_n, count))
        (decoded[reading.BAD]
         | "AllBad" >> beam.combiners.ToList()
         | "WriteSkipped" >> beam.Map(lambda bad: mining.write_skipped(output_dir, sorted(item for _, item, _ in bad))))
    seconds = time.time() - started
    skipped = len((output_dir / "skipped.txt").read_text().splitlines())
    return mining.write_summary(output_dir, export, images, len(pool) - skipped, skipped, seconds,
                                runner=choice.runner)


def _write_ranked(scores: list[tuple[int, str, np.ndarray]], output_dir: pathlib.Path, export: mining.Export) -> None:
    """ranked.csv from every scored image (position, item, scores float32 [K]), put in pool order first."""
    scores = sorted(scores, key=lambda row: row[0])
    matrix = np.stack([row[2] for row in scores]) if scores else np.zeros((0, len(export.rare_names)), np.float32)
    mining.write_ranked(output_dir / "ranked.csv", [row[1] for row in scores], matrix, export.rare_names,
                        export.points)


def _candidates(element):
    """((position, item), PredictionResult(pixels, scores [K])) -> (k, (score, position, item, pixels)) per
    rare class k."""
    (position, item), result = element
    for k, score in enumerate(result.inference):
        yield k, (float(score), position, item.decode(), result.example)


def _write_sheet(top: dict, output_dir: pathlib.Path, export: mining.Export, top_n: int, scored: int) -> None:
    """contact_sheet.png from each rare class's top candidates {k: [(score, position, item, pixels)], ...}."""
    best = [[(score, item, pixels) for score, _, item, pixels in top.get(k, [])]
            for k in range(len(export.rare_names))]
    mining.write_contact_sheet(output_dir, best, export.rare_names, top_n, scored)
