#!/usr/bin/env python3
"""Writes care-homes.json: 300 clearly synthetic LLR care homes.

Names, addresses and CQC location ids are invented (ids 1-000000001 upwards,
every name ends in "(demo)"); postcode districts, localities and coordinates
are real places in Leicester, Leicestershire and Rutland so that distances
and the locality totals behave as they would. Deterministic: the same seed
writes the same file.
"""
import json
import random

random.seed(20261130)

# Postcode district -> (locality, town, latitude, longitude, weight)
DISTRICTS = [
    ("LE1", "leicester_city", "Leicester", 52.6360, -1.1330, 6),
    ("LE2", "leicester_city", "Leicester", 52.6100, -1.1100, 30),
    ("LE3", "leicester_city", "Leicester", 52.6300, -1.1800, 25),
    ("LE4", "leicester_city", "Leicester", 52.6700, -1.1300, 25),
    ("LE5", "leicester_city", "Leicester", 52.6400, -1.0800, 24),
    ("LE7", "leicestershire", "Syston", 52.7000, -1.0700, 12),
    ("LE8", "leicestershire", "Kibworth", 52.5600, -1.0600, 10),
    ("LE9", "leicestershire", "Earl Shilton", 52.5700, -1.2500, 12),
    ("LE10", "leicestershire", "Hinckley", 52.5400, -1.3700, 16),
    ("LE11", "leicestershire", "Loughborough", 52.7700, -1.2100, 20),
    ("LE12", "leicestershire", "Shepshed", 52.7800, -1.2900, 12),
    ("LE13", "leicestershire", "Melton Mowbray", 52.7650, -0.8860, 12),
    ("LE14", "leicestershire", "Asfordby", 52.8000, -0.9500, 6),
    ("LE16", "leicestershire", "Market Harborough", 52.4770, -0.9200, 12),
    ("LE17", "leicestershire", "Lutterworth", 52.4550, -1.2000, 8),
    ("LE18", "leicestershire", "Wigston", 52.5850, -1.1000, 10),
    ("LE19", "leicestershire", "Enderby", 52.5900, -1.2100, 7),
    ("LE65", "leicestershire", "Ashby-de-la-Zouch", 52.7460, -1.4760, 9),
    ("LE67", "leicestershire", "Coalville", 52.7200, -1.3700, 15),
    ("LE15", "rutland", "Oakham", 52.6700, -0.7300, 9),
]

FIRST = ["Abbey", "Alder", "Ash", "Aston", "Beech", "Birch", "Bluebell", "Bramble", "Brook",
         "Cedar", "Chestnut", "Clover", "Copper", "Elm", "Fern", "Field", "Foxglove", "Glen",
         "Hawthorn", "Hazel", "Heather", "Holly", "Ivy", "Juniper", "Larch", "Laurel", "Lime",
         "Linden", "Maple", "Meadow", "Mill", "Oak", "Orchard", "Poplar", "Primrose", "Rowan",
         "Rose", "Sandy", "Spring", "Swan", "Sycamore", "Thistle", "Valley", "Willow", "Yew"]
SECOND = ["House", "Lodge", "Court", "Grange", "Manor", "View", "Gardens", "Hall", "Park",
          "Mews", "Villa", "Place", "Lea", "Croft"]
STREETS = ["Station Road", "Church Lane", "London Road", "Main Street", "Park Road", "High Street",
           "Mill Lane", "School Lane", "Victoria Road", "Green Lane", "Forest Road", "Hinckley Road",
           "Narborough Road", "Uppingham Road", "Melton Road", "Welford Road", "Anstey Lane"]

# Category mixes with their share of homes: (categories, weight, beds range).
MIXES = [
    (["residential"], 16, (12, 40)),
    (["residential", "residential_dementia"], 26, (20, 60)),
    (["residential_dementia"], 6, (15, 45)),
    (["nursing", "nursing_dementia"], 14, (30, 90)),
    (["nursing"], 7, (25, 70)),
    (["residential", "nursing", "nursing_dementia"], 8, (40, 110)),
    (["residential", "residential_dementia", "short_stay_respite"], 5, (25, 60)),
    (["nursing", "short_stay_discharge_to_assess", "short_stay_intermediate_care"], 3, (30, 70)),
    (["residential", "short_stay_reablement"], 2, (20, 45)),
    (["learning_disability_residential"], 5, (4, 14)),
    (["learning_disability_nursing", "young_physically_disabled"], 2, (8, 24)),
    (["mental_health_residential"], 3, (8, 30)),
    (["mental_health_nursing", "nursing"], 2, (20, 50)),
    (["young_physically_disabled"], 1, (10, 30)),
]

INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def weighted(items, weight_of):
    total = sum(weight_of(i) for i in items)
    r = random.uniform(0, total)
    for item in items:
        r -= weight_of(item)
        if r <= 0:
            return item
    return items[-1]


homes = []
used_names = set()
for n in range(1, 301):
    district = weighted(DISTRICTS, lambda d: d[5])
    code, locality, town, lat, lon, _ = district
    while True:
        name = f"{random.choice(FIRST)} {random.choice(SECOND)}"
        if name not in used_names:
            used_names.add(name)
            break
    categories, _, (low, high) = weighted(MIXES, lambda m: m[1])
    beds = random.randint(low, high)
    postcode = f"{code} {random.randint(0, 9)}{random.choice(INWARD_LETTERS)}{random.choice(INWARD_LETTERS)}"
    homes.append({
        "cqc_location_id": f"1-{n:09d}",
        "name": f"{name} (demo)",
        "address": f"{random.randint(1, 240)} {random.choice(STREETS)}, {town}",
        "postcode": postcode,
        "latitude": round(lat + random.uniform(-0.03, 0.03), 5),
        "longitude": round(lon + random.uniform(-0.045, 0.045), 5),
        "locality": locality,
        "registered_beds": beds,
        "categories": categories,
    })

# Telephone numbers from Ofcom's range kept for drama (0116 496 0000 to
# 0116 496 0999, Leicester): never a real line. Drawn after everything else
# so that the rest of the file is as before.
phones = random.sample(range(1000), len(homes))
for home, phone in zip(homes, phones):
    home["phone"] = f"0116 496 {phone:04d}"

with open("care-homes.json", "w") as out:
    json.dump({
        "about": "Synthetic care homes for demonstration and tests. Names, addresses and CQC "
                 "location ids are invented; postcode districts and coordinates are real LLR places.",
        "homes": homes,
    }, out, indent=1)
    out.write("\n")
