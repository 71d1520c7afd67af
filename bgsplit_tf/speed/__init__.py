"""How fast this machine trains and decodes, behind bgsplit-bench and bgsplit-bench-decode (they print
figures; the tests only check that they run): training steps and the input pipeline (training_speed,
with photo_pipeline's streamed JPEG case), image decoding (decode_speed). The repository's benchmarks/
folder holds standalone scripts and their committed results; this package is library code."""
