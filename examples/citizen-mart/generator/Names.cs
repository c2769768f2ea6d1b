namespace Ferry.Examples.CitizenMart;

/// <summary>The vocabulary of the register. Every name is in the form PersonName gives it back.</summary>
internal static class Names
{
    public static readonly string[] First =
    [
        "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Freya", "Zoë", "Siobhán", "Priya", "Fatima", "Aisha",
        "Chloé", "Hannah", "Emily", "Margaret", "Susan", "Deborah", "Mei", "Agnieszka", "Anne-Marie", "Maria",
        "Oliver", "George", "Noah", "Arthur", "Muhammad", "Leo", "Harry", "Jack", "José", "Łukasz", "Rhys",
        "Eóin", "David", "Peter", "Graham", "Tomasz", "Raj", "Kwame", "Daniel", "Samuel", "Jean-Luc", "Seán",
    ];

    public static readonly string[] Last =
    [
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
        "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Khan", "Clarke",
        "O'Brien", "O'Connor", "McDonald", "McKenzie", "Nguyen", "García", "Müller", "Kowalski", "Nowak", "Okafor",
        "Mensah", "Ahmed", "Hussain", "Singh", "Chen", "Wong", "Fitzgerald", "Hughes", "Lloyd", "Smith-Jones",
        "da Silva", "van der Berg", "D'Souza", "Ó Súilleabháin", "Lewis-Hamilton", "McAllister", "Owusu", "Byrne",
    ];

    public static readonly (string District, string City)[] Districts =
    [
        ("SW1A", "London"), ("E1", "London"), ("N7", "London"), ("SE15", "London"), ("W12", "London"),
        ("M1", "Manchester"), ("M14", "Manchester"), ("B33", "Birmingham"), ("B15", "Birmingham"),
        ("LS1", "Leeds"), ("LS6", "Leeds"), ("EH1", "Edinburgh"), ("EH9", "Edinburgh"), ("G2", "Glasgow"),
        ("CF10", "Cardiff"), ("BS1", "Bristol"), ("BS6", "Bristol"), ("L1", "Liverpool"), ("NE1", "Newcastle upon Tyne"),
        ("NG1", "Nottingham"), ("S1", "Sheffield"), ("CB2", "Cambridge"), ("OX1", "Oxford"), ("YO1", "York"),
        ("BN1", "Brighton"), ("EX1", "Exeter"), ("AB10", "Aberdeen"), ("BT1", "Belfast"),
    ];

    /// <summary>The area code (without its 0) of each city; 2-digit codes are followed by 8 digits, 3-digit ones by 7.</summary>
    public static readonly Dictionary<string, string> AreaCodes = new()
    {
        ["London"] = "20", ["Manchester"] = "161", ["Birmingham"] = "121", ["Leeds"] = "113", ["Edinburgh"] = "131",
        ["Glasgow"] = "141", ["Cardiff"] = "29", ["Bristol"] = "117", ["Liverpool"] = "151", ["Newcastle upon Tyne"] = "191",
        ["Nottingham"] = "115", ["Sheffield"] = "114", ["Cambridge"] = "1223", ["Oxford"] = "1865", ["York"] = "1904",
        ["Brighton"] = "1273", ["Exeter"] = "1392", ["Aberdeen"] = "1224", ["Belfast"] = "28",
    };

    public static readonly string[] Streets =
    [
        "High", "Station", "Church", "Victoria", "Park", "Mill", "Queen's", "King", "Albert", "Manor", "Green",
        "Chapel", "Windsor", "Orchard", "Castle", "Bridge", "Elm", "Oak", "Willow", "Meadow", "St John's", "Grange",
    ];

    public static readonly string[] StreetKinds = ["Street", "Road", "Lane", "Avenue", "Close", "Gardens", "Terrace", "Way"];

    public static readonly string[] Titles = ["Mr", "Mrs", "Ms", "Miss", "Dr", "Mx", ""];

    public static readonly string[] MailDomains =
        ["gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.co.uk", "btinternet.com", "proton.me", "icloud.com", "sky.com"];

    public static readonly char[] UnitLetters = "ABDEFGHJLNPQRSTUWXYZ".ToCharArray();
}
