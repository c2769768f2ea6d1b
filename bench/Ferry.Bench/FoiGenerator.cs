namespace Ferry.Bench;

internal sealed record GenOptions(long Rows, string Out, ulong Seed, double BadRate, bool Changed);

/// <summary>The ways a bad row is bad; bad rows cycle through them in this order.</summary>
internal enum BadKind
{
    None = 0,
    MissingName,
    ImpossibleDate,
    DueBeforeReceived,
    UnknownStatus,
    DuplicateReference,
    NegativePages,
}

internal sealed record GenStats(long Rows, long Bytes, long[] BadByKind, long WarningOnlyRows);

/// <summary>
/// Deterministic generator of freedom-of-information request exports.
/// Every row is computed from (seed, row count, row index) alone, through its own PRNG stream, so
/// the output is byte-identical for the same arguments, bad rows do not disturb their neighbours,
/// and the <c>--changed</c> variant has exactly the same references and bad rows as the original,
/// with one non-key value of every row altered (drawn from a second, independent stream).
/// </summary>
internal sealed class FoiGenerator
{
    public const string Header = "reference,requester_name,requester_email,received,due,status,department,pages,fee,subject";

    private const ulong RowStream = 1;
    private const ulong ChangeStream = 2;
    private const int LastYear = 2025;
    private const int MaxSequence = 999_999;
    private const int BadKinds = 6;

    private static readonly string[] Statuses = ["open", "in_progress", "closed", "withdrawn", "refused"];

    private static readonly string[] UnknownStatuses =
        ["pending review", "Closed", "OPEN", "on hold", "awaiting clarification", "in progress", "complete"];

    private static readonly (string Name, string Ascii)[] FirstNames =
    [
        ("Olivia", "olivia"), ("Amelia", "amelia"), ("Isla", "isla"), ("Ava", "ava"), ("Mia", "mia"),
        ("Grace", "grace"), ("Freya", "freya"), ("Zoë", "zoe"), ("Siobhán", "siobhan"), ("Priya", "priya"),
        ("Fatima", "fatima"), ("Aisha", "aisha"), ("Chloé", "chloe"), ("Hannah", "hannah"), ("Emily", "emily"),
        ("Margaret", "margaret"), ("Susan", "susan"), ("Deborah", "deborah"), ("Mei", "mei"), ("Agnieszka", "agnieszka"),
        ("Oliver", "oliver"), ("George", "george"), ("Noah", "noah"), ("Arthur", "arthur"), ("Muhammad", "muhammad"),
        ("Leo", "leo"), ("Harry", "harry"), ("Jack", "jack"), ("José", "jose"), ("Łukasz", "lukasz"),
        ("Rhys", "rhys"), ("Eóin", "eoin"), ("David", "david"), ("Peter", "peter"), ("Graham", "graham"),
        ("Tomasz", "tomasz"), ("Raj", "raj"), ("Kwame", "kwame"), ("Daniel", "daniel"), ("Samuel", "samuel"),
    ];

    private static readonly (string Name, string Ascii)[] LastNames =
    [
        ("Smith", "smith"), ("Jones", "jones"), ("Taylor", "taylor"), ("Brown", "brown"), ("Williams", "williams"),
        ("Wilson", "wilson"), ("Johnson", "johnson"), ("Davies", "davies"), ("Patel", "patel"), ("Robinson", "robinson"),
        ("Wright", "wright"), ("Thompson", "thompson"), ("Evans", "evans"), ("Walker", "walker"), ("White", "white"),
        ("Roberts", "roberts"), ("Green", "green"), ("Hall", "hall"), ("Khan", "khan"), ("Clarke", "clarke"),
        ("O'Brien", "obrien"), ("O'Connor", "oconnor"), ("McDonald", "mcdonald"), ("Nguyen", "nguyen"), ("García", "garcia"),
        ("Müller", "muller"), ("Kowalski", "kowalski"), ("Nowak", "nowak"), ("Okafor", "okafor"), ("Mensah", "mensah"),
        ("Ahmed", "ahmed"), ("Hussain", "hussain"), ("Singh", "singh"), ("Chen", "chen"), ("Wong", "wong"),
        ("Fitzgerald", "fitzgerald"), ("Hughes", "hughes"), ("Lloyd", "lloyd"), ("Ó Súilleabháin", "osuilleabhain"), ("Smith-Jones", "smithjones"),
    ];

    private static readonly (string Name, string Email)[] Organisations =
    [
        ("Daily Courier Newsroom", "newsroom@dailycourier.co.uk"),
        ("BBC Shared Data Unit", "shareddata@bbc.co.uk"),
        ("Taxpayers' Alliance", "research@taxpayersalliance.com"),
        ("Friends of Riverside Park", "friendsofriverside@gmail.com"),
        ("Hallam & Reeves Solicitors LLP", "enquiries@hallamreeves.co.uk"),
        ("Open Spending Collective", "foi@openspending.org"),
        ("Westbrook Residents' Association", "secretary@westbrookra.org.uk"),
        ("Local Democracy Reporting Service", "ldrs@localnews.co.uk"),
    ];

    private static readonly string[] Titles = ["Mr", "Mrs", "Ms", "Dr", "Cllr"];

    private static readonly string[] EmailDomains =
        ["gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.co.uk", "btinternet.com", "proton.me", "icloud.com", "live.co.uk"];

    private static readonly string[] Departments =
    [
        "Adult Social Care", "Children's Services", "Environment and Waste", "Finance",
        "Highways, Transport and Parking", "Housing", "Human Resources", "Legal and Democratic Services",
        "Planning, Regeneration and Economy", "Public Health", "Revenues and Benefits",
        "Chief Executive's Office", "Information Technology", "Libraries, Culture and Leisure",
    ];

    private static readonly string[] Topics =
    [
        "pothole repairs", "bin collection complaints", "agency staff spending", "councillor expenses",
        "temporary accommodation", "parking fines", "school transport", "tree felling", "CCTV cameras",
        "library closures", "fly-tipping", "energy costs", "consultants' fees", "cyber security incidents",
        "staff sickness absence", "planning enforcement", "care home inspections", "road gritting",
        "housing repairs", "legal settlements", "bus lane cameras", "pest control", "graffiti removal",
    ];

    private static readonly string[] Reports =
    [
        "Parking Review 2023", "Local Plan", "Asset Management Strategy", "Climate Emergency Action Plan",
        "Waste Strategy", "Annual Governance Statement", "Town Centre Masterplan",
    ];

    private static readonly string[] Suppliers =
        ["Capita", "Serco", "Veolia", "Amey", "Kier Group", "Mears", "Biffa", "the NHS Trust"];

    private static readonly string[] Areas =
        ["the town centre", "Ward 12", "the north district", "rural parishes", "the ring road", "council estates"];

    private readonly GenOptions _options;
    private readonly int _firstYear;
    private readonly long _rowsPerYear;
    private readonly Row _row = new();

    public FoiGenerator(GenOptions options)
    {
        _options = options;
        // References are FOI-yyyy-nnnnnn: rows fill LastYear back in equal shares, at least 8 years,
        // more when a year would need more than 999,999 sequence numbers.
        var years = (int)Math.Max(8, (options.Rows + MaxSequence - 1) / MaxSequence);
        _firstYear = LastYear - years + 1;
        _rowsPerYear = Math.Max(1, (options.Rows + years - 1) / years);
    }

    public GenStats Write(Stream output)
    {
        var bad = new long[BadKinds + 1];
        long warningOnly = 0;
        using var writer = new StreamWriter(output, new System.Text.UTF8Encoding(false), 1 << 16) { NewLine = "\n" };
        using var csv = new CsvWriter(writer);
        writer.Write(Header);
        csv.EndRow();
        for (long i = 0; i < _options.Rows; i++)
        {
            Generate(i, _row);
            if (_options.Changed)
                Change(i, _row);
            bad[(int)_row.Bad]++;
            if (_row.WarningOnly)
                warningOnly++;
            WriteRow(csv, _row);
        }
        writer.Flush();
        return new GenStats(_options.Rows, output.CanSeek ? output.Length : -1, bad, warningOnly);
    }

    private sealed class Row
    {
        public string Reference = "";
        public string Name = "";
        public string Email = "";
        public DateOnly Received;
        public DateOnly Due;
        public string? ReceivedText;     // set when the date is deliberately impossible
        public string? DueText;
        public string Status = "";
        public string Department = "";
        public int? Pages;               // null: blank in the file
        public long FeeCents;
        public string Subject = "";
        public BadKind Bad;
        public bool WarningOnly;         // a malformed e-mail address (a warning rule, the row still loads)
    }

    // Bad rows are spread evenly: row i is bad when round((i+1)·R) > round(i·R).
    private long BadBefore(long i) => (long)Math.Floor(i * _options.BadRate + 0.5);

    private bool IsBad(long i) => _options.BadRate > 0 && BadBefore(i + 1) > BadBefore(i);

    private string ReferenceOf(long i)
    {
        var year = _firstYear + (int)(i / _rowsPerYear);
        var sequence = i % _rowsPerYear + 1;
        return $"FOI-{year:D4}-{sequence:D6}";
    }

    private void Generate(long i, Row row)
    {
        var r = SplitMix64.For(_options.Seed, RowStream, i);

        row.Reference = ReferenceOf(i);
        row.ReceivedText = null;
        row.DueText = null;
        row.WarningOnly = false;

        // Received dates advance through each year in reference order.
        var year = _firstYear + (int)(i / _rowsPerYear);
        var daysInYear = DateTime.IsLeapYear(year) ? 366 : 365;
        var dayOfYear = (int)(i % _rowsPerYear * daysInYear / _rowsPerYear);
        row.Received = new DateOnly(year, 1, 1).AddDays(dayOfYear);
        // Statutory deadline: 20 working days; 1 in 12 extended by another 20 (public interest test).
        row.Due = AddWorkingDays(row.Received, r.Chance(1.0 / 12) ? 40 : 20);

        Requester(ref r, row);

        var roll = r.Next(100);
        row.Status = roll < 55 ? "closed" : roll < 70 ? "open" : roll < 85 ? "in_progress" : roll < 93 ? "refused" : "withdrawn";
        row.Department = r.Pick(Departments);
        row.Pages = row.Status switch
        {
            "closed" => r.Next(1, 1 + r.Next(1, 400)),
            "open" or "in_progress" => r.Chance(0.5) ? null : 0,
            _ => 0,
        };
        row.FeeCents = r.Chance(0.85) ? 0 : r.Next(10, 450) * 100L + (r.Chance(0.5) ? 0 : r.Next(100));
        row.Subject = Subject(ref r, row.Received.Year);

        row.Bad = IsBad(i) ? (BadKind)(1 + BadBefore(i) % BadKinds) : BadKind.None;
        if (row.Bad == BadKind.None && _options.BadRate > 0 && row.Email.Length > 0 && r.Chance(_options.BadRate / 4))
        {
            row.WarningOnly = true;
            var at = row.Email.IndexOf('@', StringComparison.Ordinal);
            row.Email = r.Next(3) switch
            {
                0 => row.Email[..at] + " at " + row.Email[(at + 1)..],
                1 => row.Email[..row.Email.IndexOf('.', at)],          // no top-level domain
                _ => row.Email.Replace("@", "@@", StringComparison.Ordinal),
            };
        }
        MakeBad(i, ref r, row);
    }

    private void MakeBad(long i, ref SplitMix64 r, Row row)
    {
        switch (row.Bad)
        {
            case BadKind.None:
                return;
            case BadKind.MissingName:
                row.Name = r.Next(3) == 0 ? "  " : "";
                return;
            case BadKind.ImpossibleDate:
                if (r.Chance(0.5))
                    row.ReceivedText = ImpossibleDate(ref r, row.Received.Year);
                else
                    row.DueText = ImpossibleDate(ref r, row.Due.Year);
                return;
            case BadKind.DueBeforeReceived:
                row.Due = row.Received.AddDays(-r.Next(1, 45));
                return;
            case BadKind.UnknownStatus:
                row.Status = r.Pick(UnknownStatuses);
                return;
            case BadKind.DuplicateReference:
                // The reference of a good row shortly before this one (a re-keyed or re-exported request).
                if (i > 0)
                {
                    var earlier = i - 1 - r.Next((int)Math.Min(i, 1000));
                    for (var steps = 0; earlier > 0 && IsBad(earlier) && steps < 64; steps++)
                        earlier--;
                    if (!IsBad(earlier))
                    {
                        row.Reference = ReferenceOf(earlier);
                        return;
                    }
                }
                row.Bad = BadKind.NegativePages;     // nothing earlier to duplicate
                goto case BadKind.NegativePages;
            case BadKind.NegativePages:
                row.Pages = -r.Next(1, 50);
                return;
        }
    }

    /// <summary>One non-key value of every row changes, never the one that makes a bad row bad.</summary>
    private void Change(long i, Row row)
    {
        var c = SplitMix64.For(_options.Seed, ChangeStream, i);
        var kind = c.Next(6);
        if ((kind == 0 && row.Bad == BadKind.UnknownStatus)
            || (kind == 1 && row.Bad == BadKind.NegativePages)
            || (kind == 5 && row.Bad is BadKind.ImpossibleDate or BadKind.DueBeforeReceived))
            kind = 4;
        switch (kind)
        {
            case 0:
                var status = Array.IndexOf(Statuses, row.Status);
                row.Status = Statuses[(status + 1 + c.Next(Statuses.Length - 1)) % Statuses.Length];
                break;
            case 1:
                row.Pages = (row.Pages ?? 0) + c.Next(1, 25);
                break;
            case 2:
                row.FeeCents += c.Next(5, 100) * 100L + c.Next(100);
                break;
            case 3:
                var department = Array.IndexOf(Departments, row.Department);
                row.Department = Departments[(department + 1 + c.Next(Departments.Length - 1)) % Departments.Length];
                break;
            case 4:
                row.Subject += c.Pick([" (amended)", " - revised scope", " (clarified by requester)", ", narrowed to 2 years"]);
                break;
            default:
                row.Due = row.Due.AddDays(c.Next(7, 29));
                break;
        }
    }

    private static void Requester(ref SplitMix64 r, Row row)
    {
        if (r.Chance(0.06))
        {
            var (org, email) = r.Pick(Organisations);
            row.Name = org;
            row.Email = email;
            return;
        }
        var (first, firstAscii) = r.Pick(FirstNames);
        var (last, lastAscii) = r.Pick(LastNames);
        var style = r.Next(100);
        row.Name = style switch
        {
            < 84 => $"{first} {last}",
            < 89 => $"{last}, {first}",                          // quoted in the file
            < 93 => $"{r.Pick(Titles)} {first} {last}",
            < 96 => r.Chance(0.5) ? $" {first} {last}" : $"{first} {last}  ",   // stray white space
            _ => $"{first} {last}".ToUpperInvariant(),
        };
        var emailStyle = r.Next(100);
        row.Email = emailStyle switch
        {
            < 6 => "",
            < 50 => $"{firstAscii}.{lastAscii}@{r.Pick(EmailDomains)}",
            < 75 => $"{firstAscii[0]}{lastAscii}@{r.Pick(EmailDomains)}",
            _ => $"{firstAscii}{lastAscii}{r.Next(1, 99)}@{r.Pick(EmailDomains)}",
        };
    }

    private static string Subject(ref SplitMix64 r, int year)
    {
        var topic = r.Pick(Topics);
        var from = year - r.Next(1, 6);
        return r.Next(9) switch
        {
            0 => $"Information about {topic}",
            1 => $"Spending on {topic}, {from}-{year}",
            2 => $"Copy of the \"{r.Pick(Reports)}\"",
            3 => $"Number of {topic} cases since {from}",
            4 => $"Emails with {r.Pick(Suppliers)} about {topic}",
            5 => $"Contracts with {r.Pick(Suppliers)}, {from}-{year}",
            6 => $"Emails mentioning \"{topic}\"",
            7 => $"{char.ToUpperInvariant(topic[0])}{topic[1..]}: policy",
            _ => $"Complaints about {topic} in {r.Pick(Areas)}",
        };
    }

    private static string ImpossibleDate(ref SplitMix64 r, int year)
    {
        var choice = r.Next(DateTime.IsLeapYear(year) ? 8 : 9);
        return choice switch
        {
            0 => $"{year}-02-30",
            1 => $"{year}-02-31",
            2 => $"{year}-04-31",
            3 => $"{year}-06-31",
            4 => $"{year}-09-31",
            5 => $"{year}-11-31",
            6 => $"{year}-13-{r.Next(1, 29):D2}",
            7 => $"{year}-00-{r.Next(1, 29):D2}",
            _ => $"{year}-02-29",                                  // not a leap year
        };
    }

    private static DateOnly AddWorkingDays(DateOnly date, int days)
    {
        while (days > 0)
        {
            date = date.AddDays(1);
            if (date.DayOfWeek is not DayOfWeek.Saturday and not DayOfWeek.Sunday)
                days--;
        }
        return date;
    }

    private static void WriteRow(CsvWriter csv, Row row)
    {
        csv.Field(row.Reference);
        csv.Field(row.Name);
        csv.Field(row.Email);
        if (row.ReceivedText is null)
            csv.Field(row.Received);
        else
            csv.Field(row.ReceivedText);
        if (row.DueText is null)
            csv.Field(row.Due);
        else
            csv.Field(row.DueText);
        csv.Field(row.Status);
        csv.Field(row.Department);
        if (row.Pages is { } pages)
            csv.Field(pages);
        else
            csv.Field(ReadOnlySpan<char>.Empty);
        csv.Money(row.FeeCents);
        csv.Field(row.Subject);
        csv.EndRow();
    }
}
