"""Device catalog: GPU models with their MIG profiles, TPU generations, and DRA API limits.

Read by the simulated drivers (:mod:`simulator.drivers.nvidia`, :mod:`simulator.drivers.tpu`),
the cluster spec (model and topology validation) and the README's approximation list.

Values follow the tables of NVIDIA's MIG user guide, real ``nvidia-smi mig -lgip`` output and the
NVIDIA DRA driver as summarised in docs/devices.md. Where no public value exists the
entry carries an ``approximated`` flag (field name -> reason) and a ``# APPROXIMATION:`` comment;
:func:`approximations` lists them all.

Every profile on every MIG-capable model here shares one placement geometry (8 memory slices,
7 compute slices, the same profile ids, starts and sizes); only memory, SM and engine counts differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# ---------------------------------------------------------------------------------------------
# DRA API limits (resource.k8s.io/v1, Kubernetes 1.35).
MAX_DEVICES_PER_SLICE = 128
MAX_DEVICES_PER_SLICE_WITH_COUNTERS_OR_TAINTS = 64
MAX_COUNTER_SETS_PER_SLICE = 8
MAX_COUNTERS_PER_SET = 32
MAX_CONSUMES_COUNTERS_PER_DEVICE = 2
MAX_COUNTERS_PER_CONSUMPTION = 32
MAX_ATTRIBUTES_AND_CAPACITIES_PER_DEVICE = 32

MEMORY_SLICES = 8
"""Memory slices of every MIG-capable GPU in the catalog (placements are in these units)."""

MIB = 2**20
GIB = 2**30


@dataclass(frozen=True)
class MigGeometry:
    """Placement facts of one GPU-instance profile id, identical on A100 through GB200."""

    gi_profile_id: int
    compute_slices: int
    starts: tuple[int, ...]
    size: int
    max_count: int
    media_extensions: bool


MIG_GEOMETRY: Mapping[int, MigGeometry] = MappingProxyType(
    {
        # id: compute slices, valid starts (memory slice), size (memory slices), max count, +me
        19: MigGeometry(19, 1, (0, 1, 2, 3, 4, 5, 6), 1, 7, False),
        20: MigGeometry(20, 1, (0, 1, 2, 3, 4, 5, 6), 1, 1, True),
        15: MigGeometry(15, 1, (0, 2, 4, 6), 2, 4, False),
        14: MigGeometry(14, 2, (0, 2, 4), 2, 3, False),
        9: MigGeometry(9, 3, (0, 4), 4, 2, False),
        5: MigGeometry(5, 4, (0,), 4, 1, False),
        0: MigGeometry(0, 7, (0,), 8, 1, False),
    }
)


@dataclass(frozen=True)
class MigProfile:
    """One MIG GPU-instance profile of one GPU model (1 compute instance = the whole GI)."""

    name: str
    gi_profile_id: int
    memory_mib: int
    multiprocessors: int
    copy_engines: int
    decoders: int
    encoders: int
    jpeg_engines: int
    ofa_engines: int
    compute_slices: int
    starts: tuple[int, ...]
    size: int
    max_count: int
    media_extensions: bool
    approximated: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def memory_bytes(self) -> int:
        """Instance memory in bytes (NVML MemorySizeMB x 2^20, as the DRA driver reports it)."""
        return self.memory_mib * MIB


def _mig(
    name: str,
    gi_profile_id: int,
    memory_mib: int,
    multiprocessors: int,
    engines: tuple[int, int, int, int, int],
    *,
    approximated: Mapping[str, str] | None = None,
) -> MigProfile:
    """Build a profile; ``engines`` = (copy engines, NVDEC, NVENC, JPEG, OFA)."""
    geometry = MIG_GEOMETRY[gi_profile_id]
    copy_engines, decoders, encoders, jpeg_engines, ofa_engines = engines
    return MigProfile(
        name=name,
        gi_profile_id=gi_profile_id,
        memory_mib=memory_mib,
        multiprocessors=multiprocessors,
        copy_engines=copy_engines,
        decoders=decoders,
        encoders=encoders,
        jpeg_engines=jpeg_engines,
        ofa_engines=ofa_engines,
        compute_slices=geometry.compute_slices,
        starts=geometry.starts,
        size=geometry.size,
        max_count=geometry.max_count,
        media_extensions=geometry.media_extensions,
        approximated=MappingProxyType(dict(approximated or {})),
    )


@dataclass(frozen=True)
class GpuModel:
    """One GPU model as the simulated ``gpu.nvidia.com`` driver publishes it.

    ``memory_mib`` is the framebuffer a full GPU reports in classic mode; ``multiprocessors`` the
    SMs of the whole GPU (in MIG mode the 7g profile's count applies; the whole GPU's engine
    counts are the 7g profile's, see ``nvidia.counter_totals``). ``architecture`` and
    ``cuda_compute_capability`` are ``None`` where unknown; the attribute is then not published.
    """

    name: str
    product_name: str
    architecture: str | None
    cuda_compute_capability: str | None
    memory_mib: int
    multiprocessors: int | None
    mig_profiles: tuple[MigProfile, ...] = ()
    mig_toggle_without_reset: bool = False
    addressing_mode: str | None = None
    cpu_architecture: str = "amd64"
    approximated: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def memory_bytes(self) -> int:
        """Framebuffer bytes (capacity ``memory`` of a full or shared GPU)."""
        return self.memory_mib * MIB

    @property
    def mig_capable(self) -> bool:
        """True when the model has a MIG profile table."""
        return bool(self.mig_profiles)

    def profile(self, name: str) -> MigProfile:
        """Return the profile called ``name``; ValueError listing the valid names otherwise."""
        for profile in self.mig_profiles:
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in self.mig_profiles) or "none (not MIG-capable)"
        raise ValueError(f"GPU model {self.name}: unknown MIG profile {name!r}; known: {known}")


_MEM_TYPICAL = "typical nvidia-smi framebuffer total; not a value read from a driver"

# --- Ampere ---------------------------------------------------------------------------------
# Engines: (CE, NVDEC, NVENC, JPEG, OFA). A100 has no NVENC.
A100_40GB = GpuModel(
    name="A100-40GB",
    product_name="NVIDIA A100-SXM4-40GB",
    architecture="Ampere",
    cuda_compute_capability="8.0.0",
    memory_mib=40960,  # APPROXIMATION: nominal framebuffer (nvidia-smi shows 40960 MiB or 40536)
    multiprocessors=108,
    mig_profiles=(
        _mig("1g.5gb", 19, 4864, 14, (1, 0, 0, 0, 0)),
        _mig("1g.5gb+me", 20, 4864, 14, (1, 1, 0, 1, 1)),
        _mig("1g.10gb", 15, 9856, 14, (1, 1, 0, 0, 0)),
        _mig("2g.10gb", 14, 9856, 28, (2, 1, 0, 0, 0)),
        _mig("3g.20gb", 9, 19968, 42, (3, 2, 0, 0, 0)),
        _mig("4g.20gb", 5, 19968, 56, (4, 2, 0, 0, 0)),
        _mig("7g.40gb", 0, 40192, 98, (7, 5, 0, 1, 1)),
    ),
    mig_toggle_without_reset=False,
    approximated={"memory_mib": _MEM_TYPICAL},
)

_A100_80_MEM = "go-nvml mock value; real A100-80GB nvidia-smi -lgip not at hand"
_A100_80_APPROX = {"memory_mib": _A100_80_MEM}
A100_80GB = GpuModel(
    name="A100-80GB",
    product_name="NVIDIA A100-SXM4-80GB",
    architecture="Ampere",
    cuda_compute_capability="8.0.0",
    memory_mib=81920,  # APPROXIMATION: nominal framebuffer
    multiprocessors=108,
    mig_profiles=(
        # APPROXIMATION: profile memory sizes below are go-nvml's mock values
        _mig("1g.10gb", 19, 9856, 14, (1, 0, 0, 0, 0), approximated=_A100_80_APPROX),
        _mig("1g.10gb+me", 20, 9856, 14, (1, 1, 0, 1, 1), approximated=_A100_80_APPROX),
        _mig("1g.20gb", 15, 19968, 14, (1, 1, 0, 0, 0), approximated=_A100_80_APPROX),
        _mig("2g.20gb", 14, 19968, 28, (2, 1, 0, 0, 0), approximated=_A100_80_APPROX),
        _mig("3g.40gb", 9, 40192, 42, (3, 2, 0, 0, 0), approximated=_A100_80_APPROX),
        _mig("4g.40gb", 5, 40192, 56, (4, 2, 0, 0, 0), approximated=_A100_80_APPROX),
        _mig("7g.80gb", 0, 80384, 98, (7, 5, 0, 1, 1), approximated=_A100_80_APPROX),
    ),
    mig_toggle_without_reset=False,
    approximated={"memory_mib": _MEM_TYPICAL},
)

# --- Hopper ---------------------------------------------------------------------------------
# Real H100-80GB `nvidia-smi mig -lgip`; MiB = the GiB shown x 1024 (9.75 GiB = 9984 MiB, ...).
H100_80GB = GpuModel(
    name="H100-80GB",
    product_name="NVIDIA H100 80GB HBM3",
    architecture="Hopper",
    cuda_compute_capability="9.0.0",
    memory_mib=81559,  # APPROXIMATION: typical nvidia-smi total, not read from the driver
    multiprocessors=132,
    mig_profiles=(
        _mig("1g.10gb", 19, 9984, 16, (1, 1, 0, 1, 0)),
        _mig("1g.10gb+me", 20, 9984, 16, (1, 1, 0, 1, 1)),
        _mig("1g.20gb", 15, 20096, 26, (1, 1, 0, 1, 0)),
        _mig("2g.20gb", 14, 20096, 32, (2, 2, 0, 2, 0)),
        _mig("3g.40gb", 9, 40448, 60, (3, 3, 0, 3, 0)),
        _mig("4g.40gb", 5, 40448, 64, (4, 4, 0, 4, 0)),
        _mig("7g.80gb", 0, 81152, 132, (8, 7, 0, 7, 1)),
    ),
    mig_toggle_without_reset=True,
    approximated={"memory_mib": _MEM_TYPICAL},
)

# H200: names, CE, NVDEC/JPEG per compute slice and OFA from the MIG guide. SMs are not published
# (the H100 pattern is assumed) and memory sizes are the H100 values scaled by the framebuffer
# ratio 143771/81559, rounded to 128 MiB (the H100 values are all multiples of 128 MiB).
_H200_SM = "H200 MIG SM counts are not published; the H100 pattern is assumed"
_H200_MEM = "H100 profile memory scaled by the framebuffer ratio, rounded to 128 MiB"
_H200_ENC = "NVENC count not published for H200 MIG; 0 as on H100"
_H200_APPROX = {"multiprocessors": _H200_SM, "memory_mib": _H200_MEM, "encoders": _H200_ENC}
H200_141GB = GpuModel(
    name="H200-141GB",
    product_name="NVIDIA H200",
    architecture="Hopper",
    cuda_compute_capability="9.0.0",
    memory_mib=143771,  # APPROXIMATION: typical nvidia-smi total
    multiprocessors=132,
    mig_profiles=(
        # APPROXIMATION: SMs, memory and NVENC of every H200 profile (see _H200_APPROX)
        _mig("1g.18gb", 19, 17664, 16, (1, 1, 0, 1, 0), approximated=_H200_APPROX),
        _mig("1g.18gb+me", 20, 17664, 16, (1, 1, 0, 1, 1), approximated=_H200_APPROX),
        _mig("1g.35gb", 15, 35456, 26, (1, 1, 0, 1, 0), approximated=_H200_APPROX),
        _mig("2g.35gb", 14, 35456, 32, (2, 2, 0, 2, 0), approximated=_H200_APPROX),
        _mig("3g.71gb", 9, 71296, 60, (3, 3, 0, 3, 0), approximated=_H200_APPROX),
        _mig("4g.71gb", 5, 71296, 64, (4, 4, 0, 4, 0), approximated=_H200_APPROX),
        _mig("7g.141gb", 0, 143104, 132, (8, 7, 0, 7, 1), approximated=_H200_APPROX),
    ),
    mig_toggle_without_reset=True,
    approximated={"memory_mib": _MEM_TYPICAL},
)

# --- Blackwell ------------------------------------------------------------------------------
# B200: names and copy engines (2/2/2/3/6/8/16) from the MIG guide; SMs from NVIDIA's test-infra
# mock (18 per slice, 126 for 7g); NVDEC/JPEG assumed one per compute slice, OFA on +me and 7g.
_BW_SM = "mock value (18 SMs per compute slice, 126 for 7g); real Blackwell values unconfirmed"
_BW_ENG = "NVDEC/JPEG assumed 1 per compute slice, NVENC 0, OFA only on +me and 7g"
_B200_MEM = "H100 profile memory scaled by the framebuffer ratio 182631/81559, rounded to 128 MiB"
_B200_APPROX = {
    "multiprocessors": _BW_SM,
    "decoders": _BW_ENG,
    "encoders": _BW_ENG,
    "jpeg_engines": _BW_ENG,
    "ofa_engines": _BW_ENG,
    "memory_mib": _B200_MEM,
}
B200_180GB = GpuModel(
    name="B200",
    product_name="NVIDIA B200",
    architecture="Blackwell",
    cuda_compute_capability="10.0.0",
    memory_mib=182631,  # APPROXIMATION: a public CUDA device query total, not nvidia-smi
    multiprocessors=148,  # APPROXIMATION: public device-query value for B200
    mig_profiles=(
        # APPROXIMATION: SMs, decoders/JPEG/OFA/NVENC and memory (see _B200_APPROX)
        _mig("1g.23gb", 19, 22400, 18, (2, 1, 0, 1, 0), approximated=_B200_APPROX),
        _mig("1g.23gb+me", 20, 22400, 18, (2, 1, 0, 1, 1), approximated=_B200_APPROX),
        _mig("1g.45gb", 15, 45056, 18, (2, 1, 0, 1, 0), approximated=_B200_APPROX),
        _mig("2g.45gb", 14, 45056, 36, (3, 2, 0, 2, 0), approximated=_B200_APPROX),
        _mig("3g.90gb", 9, 90624, 54, (6, 3, 0, 3, 0), approximated=_B200_APPROX),
        _mig("4g.90gb", 5, 90624, 72, (8, 4, 0, 4, 0), approximated=_B200_APPROX),
        _mig("7g.180gb", 0, 181760, 126, (16, 7, 0, 7, 1), approximated=_B200_APPROX),
    ),
    mig_toggle_without_reset=True,
    approximated={
        "memory_mib": "a public CUDA device-query total for B200",
        "multiprocessors": "a public CUDA device-query SM count for B200",
    },
)

# GB200: memory sizes are NVIDIA test-infra's golden table (total / 8 per memory slice).
_GB200_MEM = "NVIDIA test-infra mock golden table (186 GiB / 8 per memory slice)"
_GB200_APPROX = {
    "multiprocessors": _BW_SM,
    "copy_engines": "B200 copy-engine counts assumed",
    "decoders": _BW_ENG,
    "encoders": _BW_ENG,
    "jpeg_engines": _BW_ENG,
    "ofa_engines": _BW_ENG,
    "memory_mib": _GB200_MEM,
}
GB200_186GB = GpuModel(
    name="GB200",
    product_name="NVIDIA GB200",
    architecture="Blackwell",
    cuda_compute_capability="10.0.0",
    memory_mib=190464,  # APPROXIMATION: nominal 186 GiB
    multiprocessors=148,  # APPROXIMATION: B200 value assumed
    mig_profiles=(
        # APPROXIMATION: SMs, engines and memory of every GB200 profile (see _GB200_APPROX)
        _mig("1g.23gb", 19, 23808, 18, (2, 1, 0, 1, 0), approximated=_GB200_APPROX),
        _mig("1g.23gb+me", 20, 23808, 18, (2, 1, 0, 1, 1), approximated=_GB200_APPROX),
        _mig("1g.47gb", 15, 47616, 18, (2, 1, 0, 1, 0), approximated=_GB200_APPROX),
        _mig("2g.47gb", 14, 47616, 36, (3, 2, 0, 2, 0), approximated=_GB200_APPROX),
        _mig("3g.93gb", 9, 95232, 54, (6, 3, 0, 3, 0), approximated=_GB200_APPROX),
        _mig("4g.93gb", 5, 95232, 72, (8, 4, 0, 4, 0), approximated=_GB200_APPROX),
        _mig("7g.186gb", 0, 190464, 126, (16, 7, 0, 7, 1), approximated=_GB200_APPROX),
    ),
    mig_toggle_without_reset=True,
    addressing_mode="ATS",  # APPROXIMATION: coherent NVLink-C2C platform; value not observed
    cpu_architecture="arm64",
    approximated={
        "memory_mib": "nominal 186 GiB",
        "multiprocessors": "B200 value assumed",
        "addressing_mode": "coherent NVLink-C2C platform; ATS assumed, not observed",
    },
)

# --- openb trace models (shared GPUs; productName = the CSV model code) -----------------------
_UNDISCLOSED = "undisclosed Alibaba model code; the openb trace never requests GPU memory"
OPENB_MODELS: tuple[GpuModel, ...] = (
    GpuModel("A10", "A10", "Ampere", "8.6.0", 24 * 1024, 72),
    GpuModel(
        "G2",
        "G2",
        None,
        None,
        32 * 1024,  # APPROXIMATION: undisclosed model; nominal 32 GiB
        None,
        approximated={"memory_mib": _UNDISCLOSED},
    ),
    GpuModel(
        "G3",
        "G3",
        None,
        None,
        32 * 1024,  # APPROXIMATION: undisclosed model; nominal 32 GiB
        None,
        approximated={"memory_mib": _UNDISCLOSED},
    ),
    GpuModel("P100", "P100", "Pascal", "6.0.0", 16 * 1024, 56),
    GpuModel("T4", "T4", "Turing", "7.5.0", 16 * 1024, 40),
    GpuModel("V100M16", "V100M16", "Volta", "7.0.0", 16 * 1024, 80),
    GpuModel("V100M32", "V100M32", "Volta", "7.0.0", 32 * 1024, 80),
)

MIG_MODELS: tuple[GpuModel, ...] = (
    A100_40GB,
    A100_80GB,
    H100_80GB,
    H200_141GB,
    B200_180GB,
    GB200_186GB,
)

GPU_MODELS: Mapping[str, GpuModel] = MappingProxyType(
    {model.name: model for model in (*MIG_MODELS, *OPENB_MODELS)}
)


def gpu_model(name: str) -> GpuModel:
    """Return the catalog entry called ``name``; ValueError listing the known models otherwise."""
    try:
        return GPU_MODELS[name]
    except KeyError:
        known = ", ".join(GPU_MODELS)
        raise ValueError(f"unknown GPU model {name!r}; known models: {known}") from None


# ---------------------------------------------------------------------------------------------
# TPU generations (GKE): accelerator label, machine types, valid slice topologies.


@dataclass(frozen=True)
class TpuGeneration:
    """One TPU generation as GKE exposes it.

    ``single_host`` maps a topology to the chips per VM of the machine type that hosts it alone;
    ``multi_host`` lists topologies served by ``multi_host_chips_per_vm``-chip VMs.
    ``cube_rule`` (3-D generations) additionally accepts AxBxC with every axis a multiple of 4,
    up to ``max_chips``.
    """

    name: str
    accelerator: str
    dimensions: int
    machine_types: Mapping[int, str]
    single_host: Mapping[str, int]
    multi_host: tuple[str, ...]
    multi_host_chips_per_vm: int
    max_chips: int
    hbm_gib: int
    cube_rule: bool = False


TPU_GENERATIONS: Mapping[str, TpuGeneration] = MappingProxyType(
    {
        "v5e": TpuGeneration(
            name="v5e",
            accelerator="tpu-v5-lite-podslice",
            dimensions=2,
            machine_types=MappingProxyType(
                {1: "ct5lp-hightpu-1t", 4: "ct5lp-hightpu-4t", 8: "ct5lp-hightpu-8t"}
            ),
            single_host=MappingProxyType({"1x1": 1, "2x2": 4, "2x4": 8}),
            multi_host=("2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
            multi_host_chips_per_vm=4,
            max_chips=256,
            hbm_gib=16,
        ),
        "v5p": TpuGeneration(
            name="v5p",
            accelerator="tpu-v5p-slice",
            dimensions=3,
            machine_types=MappingProxyType({4: "ct5p-hightpu-4t"}),
            single_host=MappingProxyType({"2x2x1": 4}),
            multi_host=("2x2x2", "2x2x4", "2x4x4"),
            multi_host_chips_per_vm=4,
            max_chips=8960,
            hbm_gib=95,
            cube_rule=True,
        ),
        "v6e": TpuGeneration(
            name="v6e",
            accelerator="tpu-v6e-slice",
            dimensions=2,
            machine_types=MappingProxyType(
                {1: "ct6e-standard-1t", 4: "ct6e-standard-4t", 8: "ct6e-standard-8t"}
            ),
            single_host=MappingProxyType({"1x1": 1, "2x2": 4, "2x4": 8}),
            multi_host=("2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
            multi_host_chips_per_vm=4,
            max_chips=256,
            hbm_gib=32,
        ),
    }
)


def tpu_generation(name: str) -> TpuGeneration:
    """Return the generation called ``name``; ValueError listing the known ones otherwise."""
    try:
        return TPU_GENERATIONS[name]
    except KeyError:
        known = ", ".join(TPU_GENERATIONS)
        raise ValueError(f"unknown TPU generation {name!r}; known: {known}") from None


# ---------------------------------------------------------------------------------------------
# Approximations, for the README.


@dataclass(frozen=True)
class Approximation:
    """One catalog value that is not backed by public data."""

    subject: str
    field: str
    reason: str


def approximations() -> list[Approximation]:
    """Every approximated value in the GPU catalog, model by model then profile by profile."""
    found: list[Approximation] = []
    for model in GPU_MODELS.values():
        for name, reason in model.approximated.items():
            found.append(Approximation(model.name, name, reason))
        for profile in model.mig_profiles:
            for name, reason in profile.approximated.items():
                found.append(Approximation(f"{model.name} {profile.name}", name, reason))
    return found


def binary_quantity(nbytes: int) -> str:
    """Canonical BinarySI quantity of a byte count, as kubectl prints it: 80Gi, 81152Mi, 512."""
    if nbytes < 0:
        raise ValueError(f"byte count {nbytes}: must not be negative")
    if nbytes == 0:
        return "0"
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY_UNITS[suffix]
        if nbytes % unit == 0:
            return f"{nbytes // unit}{suffix}"
    return str(nbytes)


_BINARY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
