using System.Diagnostics;
using System.Globalization;
using Ferry.Bench;

const string Usage = """
    Ferry.Bench: benchmark data for Ferry.

    Usage:
      Ferry.Bench gen --rows N --out FILE [--seed S] [--bad-rate R] [--changed]

    gen   writes a CSV export of freedom-of-information requests (UTF-8, no BOM, '\n', RFC 4180):
          reference,requester_name,requester_email,received,due,status,department,pages,fee,subject
      --rows N        number of data rows after the header (2_000_000 is accepted)
      --out FILE      output file ('-' for standard output); its folder is created if missing
      --seed S        PRNG seed, an unsigned 64-bit integer (default 1); the same seed and rows
                      give a byte-identical file
      --bad-rate R    fraction 0..1 of rows made bad, spread evenly (default 0), cycling through:
                      missing requester_name, impossible date (2023-02-30, month 13 …), due before
                      received, unknown status, duplicate reference of an earlier row, negative pages.
                      With R > 0, about R/4 of the good rows also get a malformed e-mail address
                      (for a warning-severity rule; those rows are not counted as bad)
      --changed       the same references (and bad rows) with one non-key value of every row changed

    """ + LegacyCommands.Usage;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.Out.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

if (args[0] is "district" or "consolidation")
{
    try
    {
        return args[0] == "district" ? LegacyCommands.District(args[1..]) : LegacyCommands.Consolidation(args[1..]);
    }
    catch (UsageException ex)
    {
        return Fail(ex.Message);
    }
}

if (args[0] != "gen")
    return Fail($"unknown command '{args[0]}'");

long? rows = null;
string? output = null;
ulong seed = 1;
double badRate = 0;
var changed = false;

try
{
    for (var i = 1; i < args.Length; i++)
    {
        var name = args[i];
        string Value()
        {
            if (i + 1 >= args.Length)
                throw new UsageException($"{name} needs a value");
            return args[++i];
        }

        switch (name)
        {
            case "--rows":
                var rowsText = Value();
                rows = long.TryParse(rowsText.Replace("_", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                    ? n
                    : throw new UsageException($"--rows: '{rowsText}' is not a non-negative integer");
                break;
            case "--out":
                output = Value();
                break;
            case "--seed":
                var seedText = Value();
                seed = ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out var s)
                    ? s
                    : throw new UsageException($"--seed: '{seedText}' is not an unsigned 64-bit integer");
                break;
            case "--bad-rate":
                var rateText = Value();
                badRate = double.TryParse(rateText, NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) && rate is >= 0 and <= 1
                    ? rate
                    : throw new UsageException($"--bad-rate: '{rateText}' is not a number between 0 and 1");
                break;
            case "--changed":
                changed = true;
                break;
            case "-h" or "--help":
                Console.Out.WriteLine(Usage);
                return 0;
            default:
                throw new UsageException($"unknown option '{name}'");
        }
    }
}
catch (UsageException ex)
{
    return Fail(ex.Message);
}

if (rows is null)
    return Fail("--rows is required");
if (output is null)
    return Fail("--out is required");

var options = new GenOptions(rows.Value, output, seed, badRate, changed);
var clock = Stopwatch.StartNew();
GenStats stats;
try
{
    if (output == "-")
    {
        using var stdout = Console.OpenStandardOutput();
        stats = new FoiGenerator(options).Write(stdout);
    }
    else
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(output));
        if (!string.IsNullOrEmpty(folder))
            Directory.CreateDirectory(folder);
        using var file = new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 20);
        stats = new FoiGenerator(options).Write(file);
    }
}
catch (IOException ex)
{
    Console.Error.WriteLine($"Ferry.Bench: cannot write '{output}': {ex.Message}");
    return 1;
}
catch (UnauthorizedAccessException ex)
{
    Console.Error.WriteLine($"Ferry.Bench: cannot write '{output}': {ex.Message}");
    return 1;
}

var bad = stats.BadByKind;
var badTotal = bad.Sum() - bad[(int)BadKind.None];
var perRow = stats.Rows > 0 && stats.Bytes >= 0 ? (double)stats.Bytes / stats.Rows : 0;
var size = stats.Bytes >= 0
    ? string.Create(CultureInfo.InvariantCulture, $", {stats.Bytes:N0} bytes ({perRow:F1} bytes/row)")
    : "";
Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"Ferry.Bench: {stats.Rows:N0} rows{(changed ? " (changed)" : "")}, {badTotal:N0} bad, " +
    $"{stats.WarningOnlyRows:N0} warning-only{size} -> {output} in {clock.Elapsed.TotalSeconds:F2}s"));
if (badTotal > 0)
{
    var kinds = Enum.GetValues<BadKind>().Where(k => k != BadKind.None && bad[(int)k] > 0)
        .Select(k => $"{k} {bad[(int)k]}");
    Console.Error.WriteLine($"Ferry.Bench: bad rows by kind: {string.Join(", ", kinds)}");
}
return 0;

static int Fail(string message)
{
    Console.Error.WriteLine($"Ferry.Bench: {message}");
    Console.Error.WriteLine("Run 'Ferry.Bench --help' for usage.");
    return 2;
}

internal sealed class UsageException(string message) : Exception(message);
