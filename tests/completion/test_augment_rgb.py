"""RGB-only augmentations: they change colours (adding edges with no depth edge), never geometry, and are seeded."""

import dataclasses

import numpy as np
import pytest

from completion import augment_rgb
from completion.data import AugmentConfig, augment_sample, toy_samples
from completion.errors import ConfigError


def _edges(rgb: np.ndarray) -> int:
    """Pixels whose grey level differs from the right neighbour by more than 20 levels."""
    g = rgb.astype(np.float32).mean(axis=2)
    return int((np.abs(np.diff(g, axis=1)) > 20).sum())


def test_overlay_patterns_adds_colour_edges_to_a_flat_image():
    flat = np.full((96, 128, 3), 128, np.uint8)
    rng = np.random.default_rng(0)
    counts = [_edges(augment_rgb.overlay_patterns(flat, rng)) for _ in range(10)]
    assert _edges(flat) == 0 and min(counts) > 0 and np.mean(counts) > 50


def test_camera_degrade_statistics():
    flat = np.full((200, 200, 3), 100, np.uint8)
    assert np.array_equal(augment_rgb.camera_degrade(flat, 0.0, np.random.default_rng(0)), flat)
    out = augment_rgb.camera_degrade(flat, 1.0, np.random.default_rng(1)).astype(np.float32)
    # noise std is at most sqrt(6^2 + 0.6^2 * level) at full strength; gamma/gains move the mean but keep it sane
    per_channel_std = out.reshape(-1, 3).std(axis=0)  # white balance moves channel means apart, not the spread
    assert np.all(per_channel_std < np.sqrt(36 + 0.36 * 255) + 1) and 20 < out.mean() < 230


def test_drop_rgb_is_constant_mean_grey():
    rgb = np.random.default_rng(0).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    out = augment_rgb.drop_rgb(rgb)
    assert out.dtype == np.uint8 and np.all(out == int(np.rint(rgb.mean())))


def test_rgb_augmentations_never_touch_depth_and_are_seeded():
    sample = toy_samples(1, height_px=48, width_px=64, rng=np.random.default_rng(0))[0]
    cfg = AugmentConfig(hflip_prob=0.0, camera_degrade=1.0, pattern_prob=1.0, rgb_drop_prob=0.0)
    a = augment_sample(sample, cfg, rng=np.random.default_rng(5))
    b = augment_sample(sample, cfg, rng=np.random.default_rng(5))
    assert np.array_equal(a.rgb, b.rgb) and not np.array_equal(a.rgb, sample.rgb)
    for name in ("depth_m", "sparse_m", "spot_mask"):
        assert np.array_equal(getattr(a, name), getattr(sample, name))
    dropped = augment_sample(sample, dataclasses.replace(cfg, rgb_drop_prob=1.0), rng=np.random.default_rng(5))
    assert len(np.unique(dropped.rgb)) == 1


def test_old_configs_draw_exactly_as_before():
    # disabled options draw nothing, so recorded recipes keep their augmentation streams
    sample = toy_samples(1, height_px=48, width_px=64, rng=np.random.default_rng(0))[0]
    cfg = AugmentConfig(crop_hw_px=(32, 32))
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    augment_sample(sample, cfg, rng=rng_a)
    augment_sample(sample, dataclasses.replace(cfg, camera_degrade=0.0), rng=rng_b)
    assert rng_a.random() == rng_b.random()


@pytest.mark.parametrize("name", ["camera_degrade", "pattern_prob", "rgb_drop_prob"])
def test_bad_strength_is_refused(name):
    with pytest.raises(ConfigError, match=name):
        AugmentConfig(**{name: 1.5})


def test_misregister_rgb_moves_the_content_by_the_drawn_shift():
    rgb = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    rng = np.random.default_rng(3)
    out = augment_rgb.misregister_rgb(rgb, 4, rng)
    dy, dx = np.random.default_rng(3).integers(-4, 5, size=2)  # the same draw, by hand
    assert (dy, dx) != (0, 0)
    for y in range(20):
        for x in range(30):
            src = (min(max(y - dy, 0), 19), min(max(x - dx, 0), 29))  # edge pixels repeat
            assert np.array_equal(out[y, x], rgb[src])
    assert np.array_equal(augment_rgb.misregister_rgb(rgb, 0, rng), rgb)


def test_rgb_shift_leaves_depth_and_spots_and_is_refused_when_negative():
    sample = toy_samples(1, height_px=48, width_px=64, rng=np.random.default_rng(0))[0]
    cfg = AugmentConfig(hflip_prob=0.0, brightness=0, contrast=0, saturation=0, rgb_shift_px=3)
    shifted = [augment_sample(sample, cfg, rng=np.random.default_rng(s)) for s in range(4)]
    assert any(not np.array_equal(a.rgb, sample.rgb) for a in shifted)
    for a in shifted:
        for name in ("depth_m", "sparse_m", "spot_mask"):
            assert np.array_equal(getattr(a, name), getattr(sample, name))
    with pytest.raises(ConfigError, match="rgb_shift_px"):
        AugmentConfig(rgb_shift_px=-1)
