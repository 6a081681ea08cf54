"""Output schema of the bundled example task (Task001_dutch_radiology)."""

from typing import Literal

from pydantic import BaseModel, Field


class OutputParser(BaseModel):
    onderzoek: Literal["CT thorax", "X-thorax", "echo abdomen", "MRI hersenen", "CT abdomen"] = (
        Field(description="soort onderzoek")
    )
    nodus_aanwezig: bool = Field(description="wordt er een longnodus of rondhaard beschreven")
    grootste_nodus_mm: float | None = Field(
        None,
        ge=0,
        le=300,
        description="diameter van de grootste nodus in mm; null als er "
        "geen nodus is of de grootte niet wordt genoemd",
    )
    follow_up_geadviseerd: bool = Field(description="wordt controle of follow-up geadviseerd")
    bevindingen: list[str] = Field(
        max_length=8,
        description="belangrijkste bevindingen in korte Nederlandse termen; "
        "leeg bij een normaal verslag",
    )
