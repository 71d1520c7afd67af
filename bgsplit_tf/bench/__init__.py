"""Speed benchmarks (they print figures; the tests only check that they run): training steps and the
input pipeline (training_speed), image decoding (decode_speed)."""
