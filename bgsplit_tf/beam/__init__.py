"""The two jobs that grow with the data, as Apache Beam pipelines (the beam extra; --runner picks one):
teacher targets into the cache bgsplit-train reads (teacher_targets), and mining a pool (mining). Both
read through reading's DecodeChunks and infer through RunInference with handlers' model handlers; options
turns --runner and --pipeline_options into Beam's."""
