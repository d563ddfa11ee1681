//! Fixed reference lists the generator draws from: products, stores, cities and names.

/// One product of the synthetic assortment.
pub struct ProductDef {
    pub id: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub subcategory: &'static str,
    pub brand: &'static str,
    pub price: f64,
    pub cost_ratio: f64,
}

const fn p(
    id: &'static str,
    name: &'static str,
    category: &'static str,
    subcategory: &'static str,
    brand: &'static str,
    price: f64,
    cost_ratio: f64,
) -> ProductDef {
    ProductDef { id, name, category, subcategory, brand, price, cost_ratio }
}

/// The assortment. Razors and diapers carry the planted association.
pub const PRODUCTS: &[ProductDef] = &[
    p("P1001", "Razor, 3-blade", "Grooming", "Razors", "Keenedge", 8.99, 0.45),
    p("P1002", "Razor, 5-blade", "Grooming", "Razors", "Keenedge", 12.99, 0.42),
    p("P1003", "Electric shaver", "Grooming", "Razors", "Voltshave", 59.00, 0.55),
    p("P1004", "Shaving foam", "Grooming", "Shaving", "Keenedge", 3.49, 0.40),
    p("P1005", "Aftershave balm", "Grooming", "Shaving", "Nordic", 6.99, 0.38),
    p("P1006", "Replacement blades 8-pack", "Grooming", "Blades", "Keenedge", 15.49, 0.35),
    p("P2001", "Diapers, size 3", "Baby", "Diapers", "Softies", 11.99, 0.60),
    p("P2002", "Diapers, size 4", "Baby", "Diapers", "Softies", 12.99, 0.60),
    p("P2003", "Diapers, size 5", "Baby", "Diapers", "Cloudy", 13.49, 0.62),
    p("P2004", "Baby wipes", "Baby", "Care", "Softies", 2.99, 0.45),
    p("P2005", "Baby food jar", "Baby", "Food", "Little Chef", 1.49, 0.50),
    p("P2006", "Baby shampoo", "Baby", "Care", "Cloudy", 3.99, 0.44),
    p("P3001", "Whole milk 1l", "Grocery", "Dairy", "Alpine", 1.19, 0.70),
    p("P3002", "Bread loaf", "Grocery", "Bakery", "Oven Fresh", 2.49, 0.55),
    p("P3003", "Coffee beans 1kg", "Grocery", "Hot drinks", "Roastery", 14.99, 0.52),
    p("P3004", "Pasta 500g", "Grocery", "Dry goods", "Nonna", 1.29, 0.50),
    p("P3005", "Olive oil 750ml", "Grocery", "Dry goods", "Nonna", 7.99, 0.58),
    p("P3006", "Cheddar 200g", "Grocery", "Dairy", "Alpine", 2.79, 0.62),
    p("P3007", "Apples 1kg", "Grocery", "Produce", "Orchard", 2.99, 0.48),
    p("P3008", "Breakfast cereal", "Grocery", "Dry goods", "Sunrise", 3.79, 0.47),
    p("P4001", "Cola 6-pack", "Beverages", "Soft drinks", "Fizz", 4.99, 0.46),
    p("P4002", "Sparkling water 6-pack", "Beverages", "Water", "Spring", 2.99, 0.40),
    p("P4003", "Orange juice 1l", "Beverages", "Juice", "Orchard", 2.49, 0.52),
    p("P4004", "Red wine", "Beverages", "Wine", "Valle", 9.99, 0.55),
    p("P4005", "Lager 6-pack", "Beverages", "Beer", "Brauhaus", 6.49, 0.50),
    p("P5001", "Potato chips", "Snacks", "Savoury", "Crunch", 1.99, 0.42),
    p("P5002", "Chocolate bar", "Snacks", "Sweets", "Cocoa", 1.29, 0.45),
    p("P5003", "Mixed nuts 200g", "Snacks", "Savoury", "Crunch", 3.99, 0.50),
    p("P5004", "Cookies", "Snacks", "Sweets", "Oven Fresh", 2.29, 0.44),
    p("P6001", "Laundry detergent", "Household", "Laundry", "Brite", 9.49, 0.48),
    p("P6002", "Dish soap", "Household", "Kitchen", "Brite", 2.19, 0.40),
    p("P6003", "Paper towels 4-roll", "Household", "Paper", "Softies", 4.49, 0.52),
    p("P6004", "Toilet paper 12-roll", "Household", "Paper", "Softies", 6.99, 0.55),
    p("P6005", "Trash bags", "Household", "Kitchen", "Brite", 3.49, 0.45),
    p("P7001", "Shampoo", "Personal care", "Hair", "Nordic", 4.99, 0.40),
    p("P7002", "Toothpaste", "Personal care", "Oral", "Fresh", 2.49, 0.38),
    p("P7003", "Deodorant", "Personal care", "Body", "Nordic", 3.99, 0.36),
    p("P7004", "Sunscreen SPF50", "Personal care", "Body", "Sol", 11.99, 0.42),
    p("P8001", "Headphones", "Electronics", "Audio", "Voltshave", 49.99, 0.62),
    p("P8002", "USB-C charger", "Electronics", "Accessories", "Voltshave", 19.99, 0.50),
    p("P8003", "Smart speaker", "Electronics", "Audio", "Echoes", 89.00, 0.66),
    p("P8004", "AA batteries 8-pack", "Electronics", "Accessories", "Volt", 6.99, 0.45),
];

/// Stores: (store_id, name, city, region, channel).
pub const STORES: &[(&str, &str, &str, &str, &str)] = &[
    ("S01", "Berlin Mitte", "Berlin", "East", "store"),
    ("S02", "Leipzig Centre", "Leipzig", "East", "store"),
    ("S03", "Hamburg Harbour", "Hamburg", "North", "store"),
    ("S04", "Bremen Market", "Bremen", "North", "store"),
    ("S05", "Munich Isar", "Munich", "South", "store"),
    ("S06", "Stuttgart Park", "Stuttgart", "South", "store"),
    ("S07", "Cologne Dom", "Cologne", "West", "store"),
    ("S08", "Dortmund West", "Dortmund", "West", "store"),
    ("W01", "Web shop", "Berlin", "National", "online"),
    ("T01", "Phone orders", "Hamburg", "National", "phone"),
    ("X01", "Partner marketplace", "Munich", "National", "partner"),
];

/// Cities: (city, region, country).
pub const CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "East", "Germany"),
    ("Leipzig", "East", "Germany"),
    ("Dresden", "East", "Germany"),
    ("Hamburg", "North", "Germany"),
    ("Bremen", "North", "Germany"),
    ("Kiel", "North", "Germany"),
    ("Munich", "South", "Germany"),
    ("Stuttgart", "South", "Germany"),
    ("Nuremberg", "South", "Germany"),
    ("Cologne", "West", "Germany"),
    ("Dortmund", "West", "Germany"),
    ("Düsseldorf", "West", "Germany"),
];

/// Given names.
pub const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Lea", "Lukas",
    "Mia", "Noah", "Paul", "Sophie", "Tim", "Zoe", "Elias", "Marie", "Leon", "Ida", "Finn", "Lina",
    "Max", "Nora", "Jan", "Ella", "Tom", "Sara", "Ole",
];

/// Family names.
pub const LAST_NAMES: &[&str] = &[
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Braun",
    "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause",
];
