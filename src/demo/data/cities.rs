//! The three cities the demo delivers in: names, centres, district names (one per
//! delivery area, see [`super::geo`]) and postcode ranges. Data only.

use crate::demo::wire::Location;

/// A city: its name, area-id prefix, centre, district names and postcode range.
#[derive(Debug)]
pub(crate) struct City {
    pub(crate) name: &'static str,
    pub(crate) code: &'static str,
    pub(crate) centre: Location,
    pub(crate) districts: [&'static str; 12],
    pub(crate) postcodes: (u64, u64),
}

/// The three cities. Berlin's district 6 (`ber-06`, Mitte) holds its centre.
pub(crate) const CITIES: [City; 3] = [
    City {
        name: "Berlin",
        code: "ber",
        centre: Location {
            lat: 52.5200,
            lng: 13.4050,
        },
        districts: [
            "Schöneberg",
            "Tempelhof",
            "Neukölln",
            "Treptow",
            "Charlottenburg",
            "Mitte",
            "Kreuzberg",
            "Friedrichshain",
            "Spandau",
            "Wedding",
            "Prenzlauer Berg",
            "Pankow",
        ],
        postcodes: (10115, 14199),
    },
    City {
        name: "Hamburg",
        code: "ham",
        centre: Location {
            lat: 53.5511,
            lng: 9.9937,
        },
        districts: [
            "Harburg",
            "Wilhelmsburg",
            "HafenCity",
            "Rothenburgsort",
            "Altona",
            "St. Pauli",
            "St. Georg",
            "Hamm",
            "Ottensen",
            "Eimsbüttel",
            "Eppendorf",
            "Barmbek",
        ],
        postcodes: (20095, 22769),
    },
    City {
        name: "Munich",
        code: "muc",
        centre: Location {
            lat: 48.1372,
            lng: 11.5756,
        },
        districts: [
            "Sendling",
            "Giesing",
            "Au",
            "Ramersdorf",
            "Westend",
            "Altstadt",
            "Haidhausen",
            "Bogenhausen",
            "Neuhausen",
            "Maxvorstadt",
            "Schwabing",
            "Freimann",
        ],
        postcodes: (80331, 81929),
    },
];
