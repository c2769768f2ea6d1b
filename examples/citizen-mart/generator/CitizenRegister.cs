using System.Globalization;
using Ferry.Bench;

namespace Ferry.Examples.CitizenMart;

/// <summary>One row of a monthly extract, as the register's export writes it (untidy on purpose).</summary>
public sealed record RegisterRow(
    string CitizenId, string Title, string Name, string DateOfBirth, string Street, string Postcode, string City, string Phone,
    string Email, string Uprn, string RegisteredOn);

/// <summary>What the register knows of a person in a month, in clean form: what the history should hold.</summary>
public sealed record Resident(string CitizenId, string Name, string DateOfBirth, string Street, string Postcode, string City, string? Phone);

/// <summary>
/// A deterministic citizen register over consecutive months. <paramref name="People"/> live in the
/// area in the first month; each later month about 1% of that number arrive, some people leave
/// for good (about 10% over a year), about 1.2% move house, 0.4% change their phone number, and
/// 3% have a typo in their surname that a later month corrects. Every extract also varies how it
/// writes the same facts: names in upper, lower or padded case, postcodes with and without their
/// space, phone numbers in six national and international styles. Cleansed, those variations are
/// no change at all.
/// Everything about person i in month m comes from (seed, i, m) alone, so a month streams in
/// citizen-id order with nothing held in memory, and the same arguments give the same files.
/// </summary>
public sealed record RegisterOptions(int People, int Months = 12, int FirstYear = 2026, int FirstMonth = 1, ulong Seed = 2026);

public sealed class CitizenRegister
{
    private const ulong PersonStream = 1, AddressStream = 2, MoveStream = 3, PhoneStream = 4, StyleStream = 5;
    private const double MoveRate = 0.012, PhoneChangeRate = 0.004, LeaveRate = 0.10, TypoRate = 0.03, NoPhoneRate = 0.04;

    private readonly RegisterOptions _options;
    private readonly int _arrivalsPerMonth;

    public CitizenRegister(RegisterOptions options)
    {
        if (options.People < 1 || options.Months is < 1 or > 120)
            throw new ArgumentException("a register needs at least one person and 1 to 120 months");
        _options = options;
        _arrivalsPerMonth = Math.Max(1, options.People / 100);
    }

    public RegisterOptions Options => _options;

    /// <summary>Everyone who is ever registered, present or not.</summary>
    public int Population => _options.People + _arrivalsPerMonth * (_options.Months - 1);

    /// <summary>The first day of month <paramref name="month"/> (1-based): the date the extract describes.</summary>
    public DateOnly AsOf(int month) => new DateOnly(_options.FirstYear, _options.FirstMonth, 1).AddMonths(month - 1);

    public string FileName(int month) => $"register_{AsOf(month):yyyy-MM}.xlsx";

    /// <summary>The extract of a month: the people present then, in citizen-id order, as the export writes them.</summary>
    public IEnumerable<RegisterRow> Extract(int month)
    {
        for (var i = 0; i < Population; i++)
            if (IsPresent(i, month))
                yield return Written(i, month);
    }

    /// <summary>The same people in clean form: what a month's extract means.</summary>
    public IEnumerable<Resident> Residents(int month)
    {
        for (var i = 0; i < Population; i++)
            if (IsPresent(i, month))
                yield return Clean(i, month);
    }

    // Title, e-mail address and UPRN never change: columns the history carries but does not track.
    private sealed record Person(
        string First, string Last, string? Typo, int TypoUntil, DateOnly Born, int Arrives, int Leaves, bool HasPhone,
        string Title, string Email, string Uprn);

    private Person PersonOf(int i)
    {
        var r = SplitMix64.For(_options.Seed, PersonStream, i);
        var first = r.Pick(Names.First);
        var last = r.Pick(Names.Last);
        var born = new DateOnly(1930, 1, 1).AddDays(r.Next(0, 365 * 78));
        var arrives = i < _options.People ? 1 : 2 + (i - _options.People) / _arrivalsPerMonth;
        var leaves = arrives < _options.Months && r.Chance(LeaveRate) ? r.Next(arrives + 1, _options.Months + 1) : int.MaxValue;
        var typo = _options.Months > 1 && r.Chance(TypoRate) ? SwapTwoLetters(last, ref r) : null;
        var typoUntil = typo is null ? 0 : r.Next(2, _options.Months + 1);
        var title = r.Pick(Names.Titles);
        var email = $"{Ascii(first)}.{Ascii(last)}{r.Next(1, 100)}@{r.Pick(Names.MailDomains)}";
        var uprn = (100_000_000_000L + (long)(r.NextDouble() * 899_999_999_999L)).ToString(CultureInfo.InvariantCulture);
        return new Person(first, last, typo, typoUntil, born, arrives, leaves, !r.Chance(NoPhoneRate), title, email, uprn);
    }

    private bool IsPresent(int i, int month)
    {
        var p = PersonOf(i);
        return p.Arrives <= month && month < p.Leaves;
    }

    private Resident Clean(int i, int month)
    {
        var p = PersonOf(i);
        var last = p.Typo is not null && month < p.TypoUntil ? p.Typo : p.Last;
        var (street, postcode, city) = AddressOf(i, Version(i, month, MoveStream, MoveRate));
        return new Resident(CitizenId(i), p.First + " " + last, p.Born.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            street, postcode, city, p.HasPhone ? PhoneOf(i, Version(i, month, PhoneStream, PhoneChangeRate), city) : null);
    }

    private RegisterRow Written(int i, int month)
    {
        var clean = Clean(i, month);
        var style = SplitMix64.For(_options.Seed, StyleStream, (long)i * 128 + month);
        var p = PersonOf(i);
        return new RegisterRow(clean.CitizenId, p.Title, Styles.Name(clean.Name, ref style), clean.DateOfBirth, clean.Street,
            Styles.Postcode(clean.Postcode, ref style), clean.City, Styles.Phone(clean.Phone, ref style),
            p.Email, p.Uprn, AsOf(p.Arrives).AddDays(-1 - p.Uprn[^1] % 20).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
    }

    public static string CitizenId(int i) => "C" + (i + 1).ToString("D7", CultureInfo.InvariantCulture);

    /// <summary>How many times an event of the given rate has happened to person i by this month.</summary>
    private int Version(int i, int month, ulong stream, double rate)
    {
        var version = 0;
        for (var m = 2; m <= month; m++)
            if (SplitMix64.For(_options.Seed, stream, (long)i * 128 + m).Chance(rate))
                version++;
        return version;
    }

    private (string Street, string Postcode, string City) AddressOf(int i, int version)
    {
        var r = SplitMix64.For(_options.Seed, AddressStream, (long)i * 128 + version);
        var (district, city) = r.Pick(Names.Districts);
        var street = $"{r.Next(1, 240)} {r.Pick(Names.Streets)} {r.Pick(Names.StreetKinds)}";
        var unit = $"{r.Next(1, 10)}{Names.UnitLetters[r.Next(Names.UnitLetters.Length)]}{Names.UnitLetters[r.Next(Names.UnitLetters.Length)]}";
        return (street, district + " " + unit, city);
    }

    /// <summary>A number in E.164: a mobile, or a landline in the person's city.</summary>
    private string PhoneOf(int i, int version, string city)
    {
        var r = SplitMix64.For(_options.Seed, PhoneStream, -1 - ((long)i * 128 + version));
        if (r.Chance(0.6))
            return "+447" + r.Next(100, 1000).ToString(CultureInfo.InvariantCulture) + r.Next(0, 1_000_000).ToString("D6", CultureInfo.InvariantCulture);
        var area = Names.AreaCodes.TryGetValue(city, out var code) ? code : "1632";
        var local = r.Next(0, (int)Math.Pow(10, 10 - area.Length)).ToString("D" + (10 - area.Length), CultureInfo.InvariantCulture);
        // A local number never starts with 0 or 1 in these areas.
        return "+44" + area + (char)('2' + r.Next(0, 8)) + local[1..];
    }

    private static string Ascii(string name)
    {
        var sb = new System.Text.StringBuilder(name.Length);
        foreach (var c in name.Normalize(System.Text.NormalizationForm.FormD))
            if (char.IsAsciiLetter(c))
                sb.Append(char.ToLowerInvariant(c));
        return sb.ToString();
    }

    private static string SwapTwoLetters(string name, ref SplitMix64 r)
    {
        // Inside the last word, past its first letter: "van der Berg" → "van der Breg", never "vna".
        var chars = name.ToCharArray();
        var start = name.LastIndexOf(' ') + 2;
        for (var attempt = 0; attempt < 8 && start < chars.Length - 1; attempt++)
        {
            var at = r.Next(start, chars.Length - 1);
            if (char.IsLower(chars[at]) && char.IsLower(chars[at + 1]) && chars[at] != chars[at + 1])
            {
                (chars[at], chars[at + 1]) = (chars[at + 1], chars[at]);
                return new string(chars);
            }
        }
        return name + "e";
    }
}
