"""A detected face: its box, confidence and landmarks in the working image's pixels."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Face:
    """One detected face, in working-image pixels, with the factor back to the original."""

    box: tuple[float, float, float, float]  # x, y, w, h (working pixels)
    confidence: float
    keypoints: dict[str, tuple[float, float]]
    scale: float = 1.0

    @property
    def area(self) -> float:
        """Box area in working pixels."""
        return self.box[2] * self.box[3]

    def original_box(self) -> list[int]:
        """Box as [x, y, w, h] in the original photo's pixels."""
        return [int(round(v * self.scale)) for v in self.box]

    def to_dict(self) -> dict:
        """JSON form: box in original pixels and confidence."""
        return {"box": self.original_box(), "confidence": round(self.confidence, 4)}
