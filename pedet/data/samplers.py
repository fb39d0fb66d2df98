"""
An infinite training sampler that resumes its data order: detectron2's ``TrainingSampler`` + a start offset + a seed
that is saved in the checkpoint.

detectron2's ``TrainingSampler`` restarts its stream at the first index when a run resumes, and, with ``SEED < 0``,
draws a new random seed, so a resumed run sees other images than the uninterrupted run would have. Here the stream
``shuffle(range(size)) + shuffle(range(size)) + ...`` (one torch.Generator seeded once) is the same, each rank still
takes every world_size-th index starting at its rank, and the rank's first ``start`` indices are skipped, where
``start = start_iter * images_per_batch_per_rank`` (``set_start_iter``). The seed is part of ``state_dict`` so that the
trainer's checkpointer stores it (``PedetTrainerMixin`` registers the sampler as a checkpointable), with the data set
size, the world size and the images per batch and rank: a resumed run whose values differ cannot continue the stream
where the checkpointed run left it (its ``start`` counts batches of this run's size), and is told so.

Exactness: with ``DATALOADER.ASPECT_RATIO_GROUPING`` off, or when every image falls in the same aspect-ratio bucket
(w > h or not; the synthetic set is square), iteration t of the resumed run gets exactly the images of iteration t of
an uninterrupted run. With mixed buckets detectron2's ``AspectRatioGroupedDataset`` holds up to one partial batch per
bucket, so the resumed stream is the same but its batching may differ by those leftovers. Random augmentation draws
(in the mapper, per DataLoader worker) are not replayed.
"""
import itertools
import logging
from typing import Dict, Iterator, Optional

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import torch
from detectron2.data.samplers import TrainingSampler

__all__ = ["ResumableTrainingSampler"]
logger = logging.getLogger(__name__)


class ResumableTrainingSampler(TrainingSampler):
    """``TrainingSampler`` whose stream for this rank starts after ``start`` indices; see the module docstring."""

    def __init__(self, size: int, shuffle: bool = True, seed: Optional[int] = None, start: int = 0,
                 images_per_batch_per_rank: Optional[int] = None):
        """
        Args:
            size, shuffle, seed: as detectron2's TrainingSampler (seed None -> a random seed shared by all ranks).
            start: indices of this rank's stream to skip (see ``set_start_iter``).
            images_per_batch_per_rank: the training batch on this rank (SOLVER.IMS_PER_BATCH / world size), kept in
                ``state_dict`` so that a resumed run with another batch is warned about (None: not recorded).
        """
        super().__init__(size, shuffle, seed)
        self._start = int(start)
        self._per_rank = None if images_per_batch_per_rank is None else int(images_per_batch_per_rank)

    def set_start_iter(self, start_iter: int, images_per_batch_per_rank: int) -> None:
        """Continue at iteration ``start_iter`` (0-based) of a run with that many images per batch on each rank."""
        self._start = int(start_iter) * int(images_per_batch_per_rank)

    def __iter__(self) -> Iterator[int]:
        rank_stream = itertools.islice(self._infinite_indices(), self._rank, None, self._world_size)
        yield from itertools.islice(rank_stream, self._start, None)

    def _infinite_indices(self) -> Iterator[int]:
        # as TrainingSampler._infinite_indices; skipping whole epochs here would need the generator state anyway, and
        # drawing a permutation costs microseconds per epoch, so the skipped epochs are simply drawn
        g = torch.Generator()
        g.manual_seed(self._seed)
        while True:
            if self._shuffle:
                yield from torch.randperm(self._size, generator=g).tolist()
            else:
                yield from range(self._size)

    def state_dict(self) -> Dict[str, int]:
        """What a checkpoint keeps: the seed, and the data set size, world size and batch (checked on load)."""
        state = {"seed": self._seed, "size": self._size, "world_size": self._world_size}
        if self._per_rank is not None:
            state["images_per_batch_per_rank"] = self._per_rank
        return state

    def load_state_dict(self, state: Dict[str, int]) -> None:
        if int(state["size"]) != self._size:
            logger.warning(f"Checkpointed sampler saw {state['size']} images, this run has {self._size}: the data "
                           "order cannot be continued exactly")
        # checkpoints written before these keys were kept have neither: nothing to compare
        saved = (state.get("world_size"), state.get("images_per_batch_per_rank"))
        ours = (self._world_size, self._per_rank)
        if None not in saved and None not in ours and tuple(int(v) for v in saved) != ours:
            # the stream continues at start_iter x this run's batch: images of the stream were skipped (a larger
            # batch) or are seen twice (a smaller one), without a word
            logger.warning(f"Checkpointed run took {saved[1]} images per iteration on each of {saved[0]} processes, "
                           f"this run takes {ours[1]} on each of {ours[0]} (SOLVER.IMS_PER_BATCH / world size): the "
                           "data order cannot be continued exactly (the resumed stream starts at iteration x this "
                           "run's batch, so some images are skipped or seen twice)")
        self._seed = int(state["seed"])
