"""A simulated mmWave radar pose data set in the MARS layout: the default where no real data is.

:func:`simulate` returns what :func:`pose_helpers.data.mars.load_split` returns: features
``(N, 8, 8, 5)`` float32 (up to 64 points of x, y, z, Doppler, intensity; zero padded),
labels ``(N, 57)`` float32 (19 Kinect joints, x then y then z, metres) and an index
DataFrame (subject, movement, frame). Deterministic in ``seed``; about 20,000 frames take
well under a second.

What is simulated, and why:

- **Skeleton.** The 19 MARS joints from a small forward-kinematic body: pelvis, a trunk
  that leans forward and sideways, arms with elevation, plane and elbow angles, legs with
  hip flexion, abduction and knee angles. Each subject has a height (1.55-1.92 m), limb
  proportions within +-5 % of anthropometric fractions, a tempo (2.5-4.5 s a repetition),
  an amplitude, a place in front of the radar and a small yaw.
- **Movements.** The ten MARS movements by id (``mars.MOVEMENTS``): arm raises (left,
  right, both), front lunges, a squat with the arms raised forward, side lunges, and limb
  extensions (arm and leg raised sideways, with a side bend). Feet stay on the floor where
  the movement keeps them there (the rear foot of a lunge, both feet of a squat). The
  phase is a raised cosine with a drifting tempo and a drifting amplitude.
- **Radar frame** as in MARS: ``x`` lateral (the subject's left is ``+x``), ``y`` depth
  (1.75-2.15 m), ``z`` height relative to the radar (mounted about 0.95 m above the floor).
- **Points.** Sampled on the radar-facing surface of limb capsules, more on moving and
  larger segments and fewer far off the antenna's elevation beam (so most points are on
  the upper body, as in MARS). The count is Poisson, rising with the body's motion
  (a static-clutter-removing radar sees moving parts), thinned by 10 % dropped detections,
  capped at 64; 2 % of frames are empty. Noise is added in range (3 cm) and angle
  (3-4 degrees: the lateral error grows with range). Doppler is the radial velocity of
  the point's segment, quantised to 0.357 m/s steps and clipped to +-2.5 m/s like the
  MARS radar's; intensity is log-normal (median about 20), falling with range squared.
  Static clutter (a few fixed reflectors behind the subject, Doppler 0) and occasional
  ghost points anywhere in view are added; points are stored in random order.

Splits are by subject: ``train``, ``validate`` and ``test`` draw disjoint subjects (ids
1.., 101.., 201..), so the test measures generalisation to new people.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pose_helpers.data.mars import INDEX_COLUMNS, JOINTS, MOVEMENTS, check_split

__all__ = ["DEFAULT_SUBJECTS", "FPS", "MAX_POINTS", "simulate", "skeleton"]

FPS = 10.0
MAX_POINTS = 64
DOPPLER_STEP = 0.357  # m/s per Doppler bin of the MARS radar's point clouds
DOPPLER_MAX = 2.5
DEFAULT_SUBJECTS = {"train": 4, "validate": 2, "test": 2}
_SUBJECT_ID_BASE = {"train": 0, "validate": 100, "test": 200}
J = {name: i for i, name in enumerate(JOINTS)}

# Body proportions as fractions of height (anthropometric tables, rounded).
_PROPORTIONS = {
    "thigh": 0.23,
    "shank": 0.23,
    "ankle": 0.045,
    "spine_mid": 0.19,
    "spine_shoulder": 0.33,
    "neck": 0.375,
    "head": 0.45,
    "shoulder_half": 0.105,
    "hip_half": 0.055,
    "upper_arm": 0.18,
    "forearm": 0.155,
    "foot": 0.07,
}
# Capsules the points lie on: (joint a, joint b, radius as a fraction of height, reflectivity).
_SEGMENTS = (
    ("SpineBase", "SpineShoulder", 0.075, 1.0),
    ("HipLeft", "HipRight", 0.055, 0.8),
    ("Neck", "Head", 0.055, 0.8),
    ("ShoulderLeft", "ElbowLeft", 0.028, 0.6),
    ("ElbowLeft", "WristLeft", 0.022, 0.5),
    ("ShoulderRight", "ElbowRight", 0.028, 0.6),
    ("ElbowRight", "WristRight", 0.022, 0.5),
    ("HipLeft", "KneeLeft", 0.04, 0.7),
    ("KneeLeft", "AnkleLeft", 0.03, 0.6),
    ("AnkleLeft", "FootLeft", 0.02, 0.4),
    ("HipRight", "KneeRight", 0.04, 0.7),
    ("KneeRight", "AnkleRight", 0.03, 0.6),
    ("AnkleRight", "FootRight", 0.02, 0.4),
)
_SEG_A = np.array([J[a] for a, _, _, _ in _SEGMENTS])
_SEG_B = np.array([J[b] for _, b, _, _ in _SEGMENTS])
_SEG_R = np.array([r for _, _, r, _ in _SEGMENTS])
_SEG_RCS = np.array([c for _, _, _, c in _SEGMENTS])
_BODY_SLOTS = 96  # candidate body points per frame (a Poisson count above this is cut)
_CLUTTER = 4  # fixed static reflectors per take
_GHOSTS = 2  # slots for ghost points per frame


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, knots_per_s: float = 0.5) -> np.ndarray:
    """Standard-normal values at knots, linearly interpolated: a slow random drift."""
    knots = np.arange(0.0, t[-1] + 2.0 / knots_per_s, 1.0 / knots_per_s)
    return np.interp(t, knots, rng.standard_normal(len(knots)))


def _subject(seed: int, subject_id: int) -> dict[str, float]:
    rng = np.random.default_rng([seed, subject_id])
    height = rng.uniform(1.55, 1.92)
    body = {k: v * height * rng.uniform(0.95, 1.05) for k, v in _PROPORTIONS.items()}
    return {
        **body,
        "height": height,
        "period": rng.uniform(2.5, 4.5),
        "amplitude": rng.uniform(0.8, 1.1),
        "point_rate": rng.uniform(40.0, 70.0),
        "radar_height": 0.95 + rng.normal(0.0, 0.03),
    }


def _angles(movement: int, s: np.ndarray, amp: np.ndarray) -> dict[str, np.ndarray]:
    """Joint angles (radians) of one movement at phase ``s`` in [0, 1]; mirrored by side."""
    zero = np.zeros_like(s)
    a = {
        k: zero.copy()
        for k in (
            "pitch roll dx dy dz flex_L flex_R abd_L abd_R knee_L knee_R "
            "elev_L elev_R plane_L plane_R elbow_L elbow_R"
        ).split()
    }
    for side in "LR":  # resting arms: slightly abducted, elbows slightly bent
        a[f"elev_{side}"] += 0.12
        a[f"elbow_{side}"] += 0.15
    side, other = ("L", "R") if movement in (1, 4, 7, 9) else ("R", "L")
    x = s * amp
    if movement in (1, 2, 3):  # upper limb extension: arm raised forward-sideways overhead
        for sd in ("L", "R") if movement == 3 else (side,):
            a[f"elev_{sd}"] += 2.3 * x
            a[f"plane_{sd}"] += 0.9
            a[f"elbow_{sd}"] *= 1 - s
    elif movement in (4, 5):  # front lunge: front thigh forward, rear knee down
        theta = 1.0 * x
        a[f"flex_{side}"], a[f"knee_{side}"] = theta, theta
        a[f"flex_{other}"] = -0.5 * theta
        a["pitch"] = 0.1 * x
    elif movement == 6:  # squat with the arms raised forward
        theta = 1.2 * x
        for sd in "LR":
            a[f"flex_{sd}"], a[f"knee_{sd}"] = theta, 2 * theta
            a[f"elev_{sd}"] += 1.4 * x
            a[f"plane_{sd}"] += np.pi / 2
        a["pitch"] = 0.5 * theta
    elif movement in (7, 8):  # side lunge: one leg out and bent, the other straight
        a[f"abd_{side}"] = 0.35 * x
        a[f"flex_{side}"], a[f"knee_{side}"] = 0.8 * x, 1.6 * x
        a["pitch"] = 0.25 * x
    else:  # 9, 10 limb extension: arm and leg raised sideways, trunk bends away
        a[f"elev_{side}"] += 2.5 * x
        a[f"abd_{side}"] = 0.5 * x
        a["roll"] = (-0.15 if side == "L" else 0.15) * x
    return a


def skeleton(
    body: dict[str, float], movement: int, t: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Joints ``(F, 19, 3)`` in the body frame (x: subject's left, y: backward, z: up; metres).

    The origin is on the floor below the resting pelvis.
    """
    # Phase with a drifting tempo and a drifting amplitude per repetition.
    rate = (1.0 + 0.1 * _smooth_noise(rng, t)) / body["period"]
    phase = 2 * np.pi * np.cumsum(rate) * (t[1] - t[0] if len(t) > 1 else 0.0)
    s = 0.5 * (1 - np.cos(phase))
    amp = body["amplitude"] * (1 + 0.08 * _smooth_noise(rng, t, 0.3))
    a = _angles(movement, s, amp)
    lt, ls = body["thigh"], body["shank"]
    side_sign = {"L": 1.0, "R": -1.0}

    # Legs that must keep a foot on the floor: solve the other leg or the pelvis drop.
    if movement in (4, 5):  # front lunge: rear knee bends so both legs reach the floor
        front, rear = ("L", "R") if movement == 4 else ("R", "L")
        height = lt * np.cos(a[f"flex_{front}"]) + ls  # front shank stays vertical
        beta = -a[f"flex_{rear}"]
        cos_shank = np.clip((height - lt * np.cos(beta)) / ls, -1.0, 1.0)
        a[f"knee_{rear}"] = np.arccos(cos_shank) - beta
        a["dz"] = height - (lt + ls)
        # the rear foot stays put: the pelvis moves forward as the rear leg tilts back
        a["dy"] = -(lt * np.sin(beta) + ls * np.sin(beta + a[f"knee_{rear}"]))
    elif movement == 6:
        a["dz"] = (lt + ls) * (np.cos(a["flex_L"]) - 1)
        a["dy"] = (lt - ls) * np.sin(a["flex_L"])
    elif movement in (7, 8):
        bent, straight = ("L", "R") if movement == 7 else ("R", "L")
        height = np.cos(a[f"abd_{bent}"]) * (lt + ls) * np.cos(a[f"flex_{bent}"])
        a[f"abd_{straight}"] = np.arccos(np.clip(height / (lt + ls), -1.0, 1.0))
        a["dz"] = height - (lt + ls)
        a["dx"] = side_sign[bent] * (lt + ls) * np.sin(a[f"abd_{straight}"])

    n = len(t)
    joints = np.zeros((n, len(JOINTS), 3))
    base = np.stack([a["dx"], a["dy"], body["ankle"] + lt + ls + a["dz"]], axis=-1)
    pitch, roll = a["pitch"], a["roll"]
    up = _unit(
        np.stack([np.sin(roll), -np.sin(pitch) * np.cos(roll), np.cos(pitch) * np.cos(roll)], -1)
    )
    lateral = np.stack([np.cos(roll), np.zeros(n), -np.sin(roll)], -1)
    lateral = _unit(lateral - (lateral * up).sum(-1, keepdims=True) * up)
    joints[:, J["SpineBase"]] = base
    for name, key in (
        ("SpineMid", "spine_mid"),
        ("SpineShoulder", "spine_shoulder"),
        ("Neck", "neck"),
        ("Head", "head"),
    ):
        joints[:, J[name]] = base + body[key] * up
    forward, vertical = np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    for side, word in (("L", "Left"), ("R", "Right")):
        sg = side_sign[side]
        shoulder = (
            joints[:, J["SpineShoulder"]]
            + sg * body["shoulder_half"] * lateral
            - 0.025 * body["height"] * up
        )
        elev, plane = a[f"elev_{side}"], a[f"plane_{side}"]
        upper = np.stack(
            [sg * np.sin(elev) * np.cos(plane), -np.sin(elev) * np.sin(plane), -np.cos(elev)], -1
        )
        # the elbow bends the forearm forward (upward when the arm points forward)
        bend = forward - (upper @ forward)[:, None] * upper
        bend = _unit(bend + 0.3 * (vertical - (upper @ vertical)[:, None] * upper))
        elbow_angle = a[f"elbow_{side}"][:, None]
        fore = _unit(np.cos(elbow_angle) * upper + np.sin(elbow_angle) * bend)
        joints[:, J[f"Shoulder{word}"]] = shoulder
        joints[:, J[f"Elbow{word}"]] = shoulder + body["upper_arm"] * upper
        joints[:, J[f"Wrist{word}"]] = joints[:, J[f"Elbow{word}"]] + body["forearm"] * fore

        hip = base + np.array([sg * body["hip_half"], 0.0, -0.01 * body["height"]])
        flex, abd = a[f"flex_{side}"], a[f"abd_{side}"]
        shank_angle = flex - a[f"knee_{side}"]

        def leg(angle: np.ndarray, abd: np.ndarray = abd, sg: float = sg) -> np.ndarray:
            return np.stack(
                [sg * np.sin(abd), -np.cos(abd) * np.sin(angle), -np.cos(abd) * np.cos(angle)], -1
            )

        knee = hip + lt * leg(flex)
        ankle = knee + ls * leg(shank_angle)
        joints[:, J[f"Hip{word}"]] = hip
        joints[:, J[f"Knee{word}"]] = knee
        joints[:, J[f"Ankle{word}"]] = ankle
        joints[:, J[f"Foot{word}"]] = ankle + np.array([0.0, -body["foot"], -0.4 * body["ankle"]])
    return joints


def _to_radar(joints: np.ndarray, take: dict[str, float]) -> np.ndarray:
    """Body frame -> radar frame: yaw about the vertical, then place in front of the radar."""
    c, s = np.cos(take["yaw"]), np.sin(take["yaw"])
    x = c * joints[..., 0] - s * joints[..., 1] + take["x0"]
    y = s * joints[..., 0] + c * joints[..., 1] + take["y0"]
    z = joints[..., 2] - take["radar_height"]
    return np.stack([x, y, z], axis=-1)


def _points(
    joints: np.ndarray, velocity: np.ndarray, body: dict[str, float], rng: np.random.Generator
) -> np.ndarray:
    """Radar points ``(F, 64, 5)`` of one take (zero padded), from joints in the radar frame."""
    n = len(joints)
    a, b = joints[:, _SEG_A], joints[:, _SEG_B]  # (F, S, 3)
    va, vb = velocity[:, _SEG_A], velocity[:, _SEG_B]
    length = np.linalg.norm(b - a, axis=-1)
    radius = _SEG_R * body["height"]
    centre = 0.5 * (a + b)
    speed = np.linalg.norm(0.5 * (va + vb), axis=-1)
    elevation = np.arctan2(centre[..., 2], np.linalg.norm(centre[..., :2], axis=-1))
    beam = np.exp(-0.5 * ((elevation - 0.1) / 0.25) ** 2)  # narrow elevation beam, tilted up
    area = 2 * np.pi * radius * (length + radius)
    weight = area * beam * (0.1 + np.minimum(speed / 0.2, 5.0))
    motion = (area * speed).sum(-1) / area.sum(-1)  # area-weighted body speed, m/s

    # How many body points each frame has, then which segment and where on it.
    expected = body["point_rate"] * (0.3 + 2.5 * motion)
    count = rng.binomial(np.minimum(rng.poisson(expected), _BODY_SLOTS), 0.9)  # 10 % dropped
    cdf = np.cumsum(weight, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random((n, _BODY_SLOTS))
    segment = (u[..., None] > cdf[:, None, :]).sum(-1)  # (F, K)
    rows = np.arange(n)[:, None]
    pa, pb = a[rows, segment], b[rows, segment]
    along = rng.random((n, _BODY_SLOTS, 1))
    axis_point = pa + along * (pb - pa)
    axis = _unit(pb - pa)
    normal = rng.standard_normal((n, _BODY_SLOTS, 3))
    normal = _unit(normal - (normal * axis).sum(-1, keepdims=True) * axis)
    facing = (normal * -axis_point).sum(-1, keepdims=True) < 0  # away from the radar at 0
    normal = np.where(facing, -normal, normal)
    position = axis_point + radius[segment][..., None] * normal
    vel = va[rows, segment] + along * (vb[rows, segment] - va[rows, segment])
    rcs = _SEG_RCS[segment]
    body_valid = np.arange(_BODY_SLOTS)[None, :] < count[:, None]

    # Static clutter behind the subject and ghost points anywhere in view.
    reflectors = np.stack(
        [
            rng.uniform(-1.5, 1.5, _CLUTTER),
            rng.uniform(2.6, 3.3, _CLUTTER),
            rng.uniform(-0.9, 1.0, _CLUTTER),
        ],
        -1,
    )
    clutter = np.broadcast_to(reflectors, (n, _CLUTTER, 3))
    clutter_valid = rng.random((n, _CLUTTER)) < 0.15
    ghosts = np.stack(
        [
            rng.uniform(-2.3, 2.3, (n, _GHOSTS)),
            rng.uniform(0.5, 3.3, (n, _GHOSTS)),
            rng.uniform(-2.3, 2.3, (n, _GHOSTS)),
        ],
        -1,
    )
    ghost_valid = rng.random((n, _GHOSTS)) < 0.15
    position = np.concatenate([position, clutter, ghosts], axis=1)
    vel = np.concatenate([vel, np.zeros((n, _CLUTTER + _GHOSTS, 3))], axis=1)
    vel[:, -_GHOSTS:, 1] = rng.normal(0.0, 0.5, (n, _GHOSTS))
    rcs = np.concatenate([rcs, np.full((n, _CLUTTER + _GHOSTS), 0.5)], axis=1)
    valid = np.concatenate([body_valid, clutter_valid, ghost_valid], axis=1)
    valid &= (rng.random(n) >= 0.02)[:, None]  # 2 % of frames come back empty

    # Measurement noise in range and angle: the lateral error grows with range.
    rng_m = np.linalg.norm(position, axis=-1)
    radial = position / np.maximum(rng_m, 1e-9)[..., None]
    azimuth = np.arctan2(position[..., 0], position[..., 1]) + rng.normal(0.0, 0.05, rng_m.shape)
    elev = np.arcsin(np.clip(radial[..., 2], -1, 1)) + rng.normal(0.0, 0.07, rng_m.shape)
    rng_m = np.maximum(rng_m + rng.normal(0.0, 0.03, rng_m.shape), 0.1)
    xyz = np.stack(
        [
            rng_m * np.cos(elev) * np.sin(azimuth),
            rng_m * np.cos(elev) * np.cos(azimuth),
            rng_m * np.sin(elev),
        ],
        -1,
    )
    doppler = (vel * radial).sum(-1) + rng.normal(0.0, 0.3, rng_m.shape)  # micro-motion
    doppler = np.clip(np.round(doppler / DOPPLER_STEP) * DOPPLER_STEP, -DOPPLER_MAX, DOPPLER_MAX)
    intensity = np.maximum(
        np.round(rng.lognormal(np.log(20.0), 1.0, rng_m.shape) * rcs * (2.0 / rng_m) ** 2), 2.0
    )
    points = np.concatenate([xyz, doppler[..., None], intensity[..., None]], axis=-1)

    # Valid points first, in random order, at most 64; the rest is zero padding.
    order = np.argsort(np.where(valid, rng.random(valid.shape), 2.0), axis=1)[:, :MAX_POINTS]
    points = points[rows, order]
    keep = valid[rows, order]
    return np.where(keep[..., None], points, 0.0)


def simulate(
    split: str,
    n_subjects: int | None = None,
    seconds: float = 36.0,
    seed: int = 0,
    fps: float = FPS,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """A simulated split: the same triple as :func:`pose_helpers.data.mars.load_split`.

    Args:
        split: ``'train'``, ``'validate'`` or ``'test'`` (disjoint subjects).
        n_subjects: subjects in the split (default 4 for train, 2 otherwise: 14,400 and
            7,200 frames, close to MARS's 14,365 / 8,033 / 7,984).
        seconds: length of each take (one subject doing one movement).
        seed: the data set's seed: the same seed gives the same arrays.
        fps: radar frames per second.

    Returns:
        ``features`` ``(N, 8, 8, 5)`` float32, ``labels`` ``(N, 57)`` float32 (metres) and
        ``index`` (subject, movement, frame) with ``N = n_subjects * 10 * seconds * fps``.

    Raises:
        ValueError: for an unknown split or non-positive sizes.
    """
    check_split(split)
    n_subjects = DEFAULT_SUBJECTS[split] if n_subjects is None else int(n_subjects)
    frames = int(round(seconds * fps))
    if n_subjects < 1 or frames < 1 or fps <= 0:
        raise ValueError(
            f"n_subjects={n_subjects}, seconds={seconds}, fps={fps}; expected positive sizes"
        )
    t = np.arange(frames) / fps
    features, labels, index = [], [], []
    for k in range(n_subjects):
        subject = _SUBJECT_ID_BASE[split] + k + 1
        body = _subject(seed, subject)
        for movement in range(1, len(MOVEMENTS) + 1):
            rng = np.random.default_rng([seed, subject, movement])
            take = {
                "x0": rng.uniform(-0.1, 0.4),
                "y0": rng.uniform(1.75, 2.15),
                "yaw": rng.normal(0.0, np.radians(8.0)),
                "radar_height": body["radar_height"],
            }
            joints = _to_radar(skeleton(body, movement, t, rng), take)
            velocity = np.gradient(joints, 1.0 / fps, axis=0) if frames > 1 else 0 * joints
            features.append(_points(joints, velocity, body, rng))
            labels.append(joints.transpose(0, 2, 1).reshape(frames, -1))  # x.., y.., z..
            index.append(
                np.stack(
                    [np.full(frames, subject), np.full(frames, movement), np.arange(frames)], 1
                )
            )
    feature_array = np.concatenate(features).reshape(-1, 8, 8, 5).astype(np.float32)
    label_array = np.concatenate(labels).astype(np.float32)
    index_frame = pd.DataFrame(np.concatenate(index), columns=list(INDEX_COLUMNS)).astype("int64")
    return feature_array, label_array, index_frame
