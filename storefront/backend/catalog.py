"""The seed catalogue: 50 products in five categories, deterministic so tests and docs agree."""

from __future__ import annotations

CATEGORIES: dict[str, list[tuple[str, str, int]]] = {
    # category: [(name, description, price in cents)]
    "Electronics": [
        ("Wireless Mouse", "Quiet 2.4 GHz mouse with a USB receiver", 1999),
        ("Mechanical Keyboard", "Tenkeyless keyboard with brown switches", 7999),
        ("USB-C Hub", "Seven ports, 100 W pass-through charging", 3499),
        ("Noise-Cancelling Headphones", "Over-ear, 30 hours of battery", 14999),
        ("Webcam 1080p", "Full HD webcam with two microphones", 4999),
        ("Portable SSD 1 TB", "USB 3.2 external solid-state drive", 8999),
        ("Bluetooth Speaker", "Waterproof speaker, 12 hours of play", 3999),
        ("Smart Plug", "Wi-Fi plug with energy monitoring", 1499),
        ("27-inch Monitor", "QHD IPS panel, 75 Hz", 24999),
        ("Phone Charger 30 W", "GaN USB-C wall charger", 2499),
    ],
    "Books": [
        ("Kubernetes Up & Running", "Dive into the future of infrastructure", 4499),
        ("The Phoenix Project", "A novel about IT, DevOps and helping your business win", 2499),
        ("Site Reliability Engineering", "How Google runs production systems", 3999),
        ("Designing Data-Intensive Applications", "The big ideas behind reliable systems", 4999),
        ("Cloud Native Patterns", "Designing change-tolerant software", 4299),
        ("Fluent Python", "Clear, concise and effective programming", 5499),
        ("PostgreSQL Up & Running", "A practical guide to the advanced open source database", 3499),
        ("Redis in Action", "Data structures for speed", 3299),
        ("The Linux Command Line", "A complete introduction", 2999),
        ("Release It!", "Design and deploy production-ready software", 3799),
    ],
    "Home & Kitchen": [
        ("French Press", "One-litre borosilicate glass coffee press", 2799),
        ("Chef's Knife", "20 cm stainless steel blade", 5999),
        ("Cast Iron Skillet", "Pre-seasoned 26 cm pan", 3499),
        ("Electric Kettle", "1.7 L, temperature control", 4499),
        ("Cutting Board", "Bamboo, with a juice groove", 1999),
        ("Storage Jars (set of 6)", "Airtight glass jars", 2499),
        ("Desk Lamp", "LED, dimmable, USB charging port", 3299),
        ("Throw Blanket", "Soft fleece, 130 x 170 cm", 2999),
        ("Scented Candle", "Soy wax, cedar and vanilla", 1599),
        ("Plant Pot", "Ceramic, 18 cm, with saucer", 1799),
    ],
    "Sports": [
        ("Yoga Mat", "6 mm, non-slip", 2999),
        ("Water Bottle", "Insulated steel, 750 ml", 2499),
        ("Running Socks (3 pairs)", "Cushioned and breathable", 1499),
        ("Resistance Bands", "Set of five strengths", 1999),
        ("Jump Rope", "Adjustable speed rope", 1299),
        ("Foam Roller", "High-density, 45 cm", 2299),
        ("Cycling Gloves", "Padded, fingerless", 1899),
        ("Tennis Balls (4)", "Pressurised, all courts", 799),
        ("Dumbbell 5 kg", "Rubber-coated hex dumbbell", 2799),
        ("Sports Towel", "Quick-dry microfibre", 1399),
    ],
    "Toys & Games": [
        ("Building Blocks (500)", "Compatible bricks in 20 colours", 3499),
        ("Jigsaw Puzzle 1000", "Mountain lake landscape", 1999),
        ("Chess Set", "Wooden board and pieces", 3999),
        ("Card Game", "Fast family card game for 2-6 players", 1299),
        ("Remote Control Car", "1:18 scale, rechargeable", 4999),
        ("Kite", "Easy-flying delta kite", 1799),
        ("Rubik's Cube", "The original 3x3", 1199),
        ("Board Game Classic", "Trading and building for 3-4 players", 3499),
        ("Plush Bear", "Soft toy, 30 cm", 1599),
        ("Science Kit", "Twenty experiments for curious minds", 2999),
    ],
}


def seed_rows() -> list[tuple[str, str, str, str, int, int]]:
    """(sku, name, description, category, price_cents, stock), in a stable order."""
    rows = []
    for c_index, (category, products) in enumerate(CATEGORIES.items()):
        for p_index, (name, description, price) in enumerate(products):
            sku = f"{category[:3].upper()}-{c_index + 1}{p_index + 1:02d}"
            stock = 20 + (c_index * 10 + p_index) * 7 % 180
            rows.append((sku, name, description, category, price, stock))
    return rows
