"""docs/speed.md's values: training-step speed against plain Keras, the share of the matmul peak,
bfloat16 against float32 (speed and accuracy) and Beam against one process, from the JSON and CSV reports
under benchmarks/results/ (bgsplit-bench, benchmarks/precision_table.py, benchmarks/precision_parity.py,
benchmarks/beam_speed.py)."""

from __future__ import annotations

import pathlib

from bgsplit_tf.reports import results_files

RESULTS = pathlib.Path("benchmarks/results")
BENCH_REPORTS = {"whole network, 128 px": "bench/efficientnet_lite0_128_whole.json",
                 "top stages on frozen maps, 224 px": "bench/efficientnet_lite0_224_top_stages.json"}
BENCH_CASES = {"b_custom_step_no_xla": "b: our custom train_step (XLA off, the CPU default)",
               "c_peer_compile_fit_default": "c: the same network and losses through compile(loss=..., "
                                             "loss_weights=...) and fit",
               "c_peer_compile_fit_xla": "c: the same with XLA on",
               "h_custom_step_bfloat16": "h: our step, trunk in bfloat16"}


def bench_table(reports: dict[str, dict]) -> str:
    """Markdown: images/s per case (median of the interleaved epochs, slowest and fastest in brackets),
    ratios and the share of the measured matmul peak, one column per report."""
    lines = ["| case | " + " | ".join(reports) + " |", "|---" * (len(reports) + 1) + "|"]
    for case, label in BENCH_CASES.items():
        cells = [f"{r['cases'][case]['images_per_second']:.1f} ({r['cases'][case]['min']:.1f}-"
                 f"{r['cases'][case]['max']:.1f})" for r in reports.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    rows = {
        "custom / peer: medians; fastest epochs": lambda r: (
            f"{r['ratios']['default_custom_over_default_peer']:.2f}; "
            f"{r['ratios_fastest_epochs']['default_custom_over_default_peer']:.2f}"),
        "GFLOP per training image (3 x forward)": lambda r: f"{r['flops']['train_per_image'] / 1e9:.3f}",
        "share of the measured float32 matmul peak (fastest epoch of b)": lambda r: (
            f"{r['flops']['fraction_of_measured_peak']:.2f} of {r['flops']['measured_peak_per_second'] / 1e9:.1f} "
            "GFLOP/s"),
        "share of the measured bfloat16 matmul peak (fastest epoch of h)": lambda r: (
            f"{r['flops']['bfloat16_fraction_of_measured_peak']:.2f} of "
            f"{r['flops']['bfloat16_measured_peak_per_second'] / 1e9:.1f} GFLOP/s"),
    }
    for label, cell in rows.items():
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in reports.values()) + " |")
    return "\n".join(lines) + "\n"


def precision_table(report: dict) -> str:
    """Markdown: seconds per training step in float32 and bfloat16 per network (precision_table.py)."""
    lines = ["| network | batch | float32 (s/step) | bfloat16 (s/step) | float32 / bfloat16 |", "|---|---|---|---|---|"]
    lines += [f"| {r['network']} | {r['batch_size']} | {r['float32']:.3f} | {r['bfloat16']:.3f} | "
              f"{r['float32_over_bfloat16']:.2f} |" for r in report["rows"]]
    return "\n".join(lines) + "\n"


def beam_table(report: dict) -> str:
    """Markdown: one process against the Beam DirectRunner, for the teacher pass and for mining."""
    lines = ["| job | one process (images/s) | DirectRunner (images/s) | DirectRunner / one process |",
             "|---|---|---|---|"]
    for job, label in (("teacher_pass", "teacher targets"), ("mining", "mining (ranked.csv)")):
        single, beam = report[f"{job}_single_process"], report[f"{job}_beam"]
        lines.append(f"| {label} | {single['images_per_second']:.1f} | {beam['images_per_second']:.1f} | "
                     f"{report[f'{job}_beam_over_single']:.2f} |")
    return "\n".join(lines) + "\n"


def speed_values(repo: pathlib.Path) -> dict[str, str]:
    """docs/speed.md's values: the bench, precision, parity and Beam tables and the machines they ran on."""
    reports = {label: results_files.read_json(repo / RESULTS / file) for label, file in BENCH_REPORTS.items()}
    machine = next(iter(reports.values()))["machine"]
    precision = results_files.read_json(repo / RESULTS / "precision/amd_epyc.json")
    beam = results_files.read_json(repo / RESULTS / "beam_speed.json")
    parity = (repo / RESULTS / "precision_parity/parity.md").read_text()
    return {
        "bench.table": "\n" + bench_table(reports) + "\n",
        "bench.machine": (f"{machine['processor']}, {machine['cpu_count']} cores, TensorFlow {machine['tensorflow']}, "
                          f"Keras {machine['keras']}"),
        "precision.table": "\n" + precision_table(precision) + "\n",
        "precision.machine": f"{precision['cpu']}, TensorFlow {precision['tensorflow']}, bfloat16 instructions: "
                             f"{', '.join(precision['bfloat16_cpu_flags']) or 'none'}",
        "parity.table": "\n" + parity.strip() + "\n\n",
        "beam.table": "\n" + beam_table(beam) + "\n",
        "beam.setting": (f"{beam['cpu']}, {beam['workers']} workers, {beam['pool_images']:,} images at "
                         f"{beam['image_size']} px"),
        "beam.agreement": (f"{beam['teacher_pass_agreement']['max_abs_prob_difference']:.1e}"),
    }
