"""
Ninth bad-input trial, model side (issue 11): the new kinds of checks of this trial. Cases that fit the earlier trials'
checks are in their tables (tests/pedet/test_bad_input_third_model.py; the benchmark's in
tests/benchmarks/test_crowd_benchmark_smoke.py).
"""
import os

import pytest

from ..scripts import OPL_TINY, TINY_DEMO_OPTS, fresh_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_OPTS = ["--opts", *TINY_DEMO_OPTS]


def test_demo_refuses_two_images_that_would_be_written_to_one_file(tmp_path):
    """a/x.jpg and b/x.jpg with --output <folder> left one annotated image (the later one overwrote the earlier, in
    silence; so did a/x and b/x.jpg, both written as x.jpg). The same file named twice is no conflict."""
    import cv2
    import numpy as np

    demo = fresh_script("demo/demo.py", "ninth_trial_demo")
    ok, data = cv2.imencode(".jpg", np.full((48, 64, 3), 100, np.uint8))
    for sub, name in (("a", "x.jpg"), ("b", "x.jpg"), ("c", "x")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / name).write_bytes(data.tobytes())
    out = tmp_path / "out"
    for first, second in (("a/x.jpg", "b/x.jpg"), ("c/x", "b/x.jpg")):
        with pytest.raises(demo.InputError) as e:
            demo.main(["--config-file", OPL_TINY, "--input", str(tmp_path / first), str(tmp_path / second),
                       "--output", str(out), *DEMO_OPTS])
        assert str(e.value) == (f"--input {tmp_path / first} and {tmp_path / second}: both would be written to "
                                f"{out / 'x.jpg'}; give them separate runs or --output folders")
        assert not out.exists()  # refused before anything is written
    same = [str(tmp_path / "a" / "x.jpg"), str(tmp_path / "a" / "*.jpg")]
    assert demo.main(["--config-file", OPL_TINY, "--input", *same, "--output", str(out), *DEMO_OPTS]) == [
        str(out / "x.jpg")] * 2


@pytest.mark.parametrize("max_iter, warned", [(5, True), (10, True), (11, False)])
def test_resume_at_or_past_max_iter_says_nothing_is_trained(tmp_path, caplog, max_iter, warned):
    """A checkpoint of iteration 9 resumed with SOLVER.MAX_ITER <= 10 (e.g. a shorter schedule in the same folder):
    Detectron2 trains no iteration and writes no model_final.pth, in silence; the run now says so."""
    import logging

    from detectron2.config import get_cfg

    from opl import add_opl_config
    from pedet.config import add_pedet_config
    from pedet.engine import PedestrianTrainer

    def trainer(iters):
        cfg = get_cfg()
        add_pedet_config(cfg)
        add_opl_config(cfg)
        cfg.merge_from_file(OPL_TINY)
        cfg.merge_from_list([*DEMO_OPTS[1:7], "OUTPUT_DIR", str(tmp_path), "DATASETS.TEST", "()", "MODEL.DEVICE", "cpu",
                             "SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", "()", "SOLVER.WARMUP_ITERS", "0"])
        return PedestrianTrainer(cfg)

    first = trainer(20)
    first.iter = 9
    first.checkpointer.save("model_0000009")  # what the PeriodicCheckpointer writes after iteration 9
    resumed = trainer(max_iter)
    with caplog.at_level(logging.WARNING, logger="pedet"):
        resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 10
    expected = (f"--resume: the last checkpoint in {tmp_path} finished iteration 9, at or past SOLVER.MAX_ITER "
                f"{max_iter}: no iteration is trained and no model_final.pth is written (raise SOLVER.MAX_ITER to "
                "train on)")
    assert (expected in caplog.messages) == warned, caplog.messages


def _clip(path, frames: int):
    """A small MJPG video of ``frames`` grey frames (64 x 48)."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for k in range(frames):
        writer.write(np.full((48, 64, 3), 60 * k, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize("output, expected", [
    # OpenCV's image-sequence writer opened it and wrote 95 bytes that are neither an image nor a video
    ("o.jpg", "--output {d}/o.jpg: an image file name; the annotated video goes to a video file (e.g. .mp4) or a "
              "folder"),
    # the input was overwritten by the annotated frames while it was read
    ("clip.avi", "--output {d}/clip.avi: would overwrite the input video {d}/clip.avi; give another file name or "
                 "folder"),
])
def test_demo_video_output_it_cannot_write_as_a_video_is_refused(tmp_path, output, expected):
    demo = fresh_script("demo/demo.py", "ninth_trial_demo")
    clip = _clip(tmp_path / "clip.avi", 3)
    before = clip.read_bytes()
    with pytest.raises(demo.InputError) as e:
        demo.main(["--config-file", OPL_TINY, "--video-input", str(clip), "--output", str(tmp_path / output),
                   *DEMO_OPTS])
    assert str(e.value) == expected.format(d=tmp_path)
    assert clip.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["clip.avi"]


def test_demo_video_output_in_a_new_folder_is_written(tmp_path):
    """--output new/clip.mp4 (the README's example): was "cv2.VideoWriter cannot write" where the folder did not exist
    (an annotated image's new folder was made)."""
    import cv2

    demo = fresh_script("demo/demo.py", "ninth_trial_demo")
    clip = _clip(tmp_path / "clip.avi", 2)
    out = tmp_path / "new" / "sub" / "annotated.mp4"
    written = demo.main(["--config-file", OPL_TINY, "--video-input", str(clip), "--output", str(out), *DEMO_OPTS])
    assert written == str(out)
    read = cv2.VideoCapture(str(out))
    frames = [read.read()[1] for _ in range(2)]
    assert all(f is not None and f.shape == (48, 64, 3) for f in frames)
