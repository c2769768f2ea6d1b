namespace Ferry.Bench;

/// <summary>Name pools for legacy school data. Every character is in windows-1252, so a name survives a trip through it.</summary>
internal static class LegacyNames
{
    public static readonly string[] FirstNames =
    [
        "Amelia", "Oliver", "Zoë", "Noah", "Chloé", "Liam", "Søren", "Isla", "José", "Ava", "Mateo", "Freya",
        "François", "Maya", "Björn", "Leah", "Ana", "Ethan", "Inés", "Jack", "Renée", "Lucas", "Mía", "Oscar",
        "Hannah", "Théo", "Grace", "Ren", "Émile", "Sofia", "Dmitri", "Nora", "Ángel", "Ruby", "Kai", "Elif",
    ];

    public static readonly string[] LastNames =
    [
        "Smith", "Müller", "García", "Jones", "Núñez", "Brown", "O'Neill", "Taylor", "Kowalski", "Øberg", "Wilson",
        "Dubois", "Evans", "Fernández", "Walker", "Schröder", "Hughes", "Peña", "Khan", "Lefèvre", "Patel", "Young",
        "Åström", "Clarke", "Nguyen", "Moreau", "Byrne", "Costa", "Jäger", "Murphy", "Hall",
    ];

    public static readonly string[] Places =
    [
        "Ashford", "Birchwood", "Cedar Hill", "Dunmore", "Elm Park", "Fairview", "Glenside", "Harbour", "Ironbridge",
        "Juniper", "Kingsley", "Lakeside", "Millbrook", "Northgate", "Oakridge", "Pinecrest", "Queensway", "Riverside",
    ];

    public static readonly string[] SchoolKinds = ["Primary School", "Middle School", "High School"];

    public static readonly string[] StaffRoles = ["teacher", "teacher", "teacher", "teacher", "counsellor", "administrator"];
}
