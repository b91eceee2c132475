"""Test support, also used by the demo and the benchmarks: tiny random-weight CLIP checkpoints
(``tiny_clip``) and tiny copies of every dataset in its exact on-disk layout
(``dataset_fixtures``, drawn by ``shapes``). Nothing here imports the trainers, the datasets or the engine."""
