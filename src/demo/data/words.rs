//! Word lists the demo builds believable names from. Data only: no logic here.

/// Cuisines, in the order their words appear in [`CUISINE_PREFIXES`].
pub(crate) const CUISINES: [&str; 16] = [
    "Italian",
    "Japanese",
    "Chinese",
    "Indian",
    "Thai",
    "Vietnamese",
    "Turkish",
    "Greek",
    "Mexican",
    "American",
    "German",
    "Lebanese",
    "Korean",
    "Spanish",
    "Vegan",
    "French",
];

/// A word that says the cuisine, per entry of [`CUISINES`] ("Trattoria Sole").
pub(crate) const CUISINE_PREFIXES: [&str; 16] = [
    "Trattoria",
    "Izakaya",
    "Wok House",
    "Curry House",
    "Baan",
    "Pho",
    "Lokanta",
    "Taverna",
    "Cantina",
    "Diner",
    "Gasthaus",
    "Beirut",
    "Seoul Kitchen",
    "Bodega",
    "Green",
    "Bistro",
];

/// Adjectives for "Golden Lotus".
pub(crate) const ADJECTIVES: [&str; 16] = [
    "Golden", "Little", "Red", "Blue", "Happy", "Old", "Wild", "Lucky", "Silver", "Green", "Hidden", "Royal", "Sunny",
    "Urban", "Jade", "Crimson",
];

/// Nouns for "Golden Lotus".
pub(crate) const NOUNS: [&str; 20] = [
    "Lotus", "Sole", "Olive", "Dragon", "Garden", "Harbour", "Lantern", "Fig", "Basil", "Saffron", "Tiger", "Pearl",
    "Bamboo", "Linden", "Oak", "Spoon", "Fork", "Table", "Moon", "Pepper",
];

/// Street names, shared by restaurants and user addresses.
pub(crate) const STREETS: [&str; 20] = [
    "Hauptstraße",
    "Bahnhofstraße",
    "Schillerstraße",
    "Goethestraße",
    "Lindenallee",
    "Gartenweg",
    "Marktplatz",
    "Kirchgasse",
    "Bergstraße",
    "Parkstraße",
    "Ringstraße",
    "Mühlenweg",
    "Rosenstraße",
    "Schulstraße",
    "Friedrichstraße",
    "Kastanienallee",
    "Uferstraße",
    "Brunnenstraße",
    "Wiesenweg",
    "Königstraße",
];

/// Menu section titles; a menu takes some of them, in this order.
pub(crate) const CATEGORIES: [&str; 8] = [
    "Starters", "Soups", "Salads", "Mains", "Specials", "Sides", "Desserts", "Drinks",
];

/// The main ingredient of a dish, with whether it is vegetarian.
pub(crate) const INGREDIENTS: [(&str, bool); 10] = [
    ("Chicken", false),
    ("Tofu", true),
    ("Beef", false),
    ("Vegetable", true),
    ("Mushroom", true),
    ("Salmon", false),
    ("Halloumi", true),
    ("Lamb", false),
    ("Prawn", false),
    ("Paneer", true),
];

/// Kinds of dish.
pub(crate) const DISHES: [&str; 10] = [
    "Curry", "Bowl", "Salad", "Wrap", "Burger", "Noodles", "Risotto", "Skewers", "Soup", "Stir-fry",
];

/// Things a dish comes with, for descriptions.
pub(crate) const SIDES: [&str; 12] = [
    "fresh herbs",
    "jasmine rice",
    "roasted garlic",
    "a lime dressing",
    "toasted sesame",
    "pickled onions",
    "chilli oil",
    "seasonal greens",
    "a yoghurt dip",
    "crispy shallots",
    "sweet potato",
    "house sauce",
];

/// Given names for users.
pub(crate) const FIRST_NAMES: [&str; 20] = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Lena", "Leon", "Mia", "Noah",
    "Olivia", "Paul", "Sophie", "Tom", "Lara", "Elias", "Ida",
];

/// Family names for users.
pub(crate) const LAST_NAMES: [&str; 20] = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Braun",
    "Zimmermann",
    "Hartmann",
    "Lange",
];

/// Locales, weighted by repetition.
pub(crate) const LOCALES: [&str; 10] = [
    "de-DE", "de-DE", "de-DE", "de-DE", "en-GB", "en-GB", "en-US", "fr-FR", "tr-TR", "it-IT",
];

/// Labels for a user's addresses, in the order they are added.
pub(crate) const ADDRESS_LABELS: [&str; 3] = ["Home", "Work", "Partner"];
