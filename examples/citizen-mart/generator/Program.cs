using System.Diagnostics;
using System.Globalization;
using Ferry.Examples.CitizenMart;

const string Usage = """
    citizen-gen: monthly XLSX extracts of a citizen register, for the citizen-mart example and bench/pipeline.sh.

    Usage:
      citizen-gen --people N --out DIR [--months M] [--month K] [--seed S] [--first yyyy-MM]

      --people N     people registered in the first month (arrivals add about 1% of N a month)
      --out DIR      folder for register_yyyy-MM.xlsx (sheet "Register"); created if missing
      --months M     months in the register's life (default 12)
      --month K      write only month K (1..M) of those M months
      --seed S       unsigned 64-bit seed (default 2026); the same arguments give the same files
      --first DATE   the first month, yyyy-MM (default 2026-01)
    """;

int? people = null;
string? output = null;
int months = 12;
int? only = null;
ulong seed = 2026;
var first = new DateOnly(2026, 1, 1);

try
{
    for (var i = 0; i < args.Length; i++)
    {
        var name = args[i];
        if (name is "-h" or "--help")
        {
            Console.WriteLine(Usage);
            return 0;
        }
        if (i + 1 >= args.Length)
            throw new ArgumentException($"{name} needs a value");
        var value = args[++i];
        switch (name)
        {
            case "--people": people = Positive(name, value); break;
            case "--months": months = Positive(name, value); break;
            case "--month": only = Positive(name, value); break;
            case "--out": output = value; break;
            case "--seed":
                seed = ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : throw new ArgumentException($"--seed: '{value}' is not an unsigned integer");
                break;
            case "--first":
                first = DateOnly.TryParseExact(value + "-01", "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var f) ? f : throw new ArgumentException($"--first: '{value}' is not yyyy-MM");
                break;
            default: throw new ArgumentException($"unknown option '{name}'");
        }
    }
    if (people is null || output is null)
        throw new ArgumentException("--people and --out are required");
    if (only > months)
        throw new ArgumentException($"--month {only} is beyond --months {months}");
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine("citizen-gen: " + ex.Message);
    Console.Error.WriteLine(Usage);
    return 2;
}

var register = new CitizenRegister(new RegisterOptions(people.Value, months, first.Year, first.Month, seed));
for (var month = only ?? 1; month <= (only ?? months); month++)
{
    var clock = Stopwatch.StartNew();
    var path = Path.Combine(output, register.FileName(month));
    var rows = RegisterXlsxWriter.Write(path, "Register", register.Extract(month));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{path}: {rows} rows, {new FileInfo(path).Length / 1048576.0:F1} MB, {clock.Elapsed.TotalSeconds:F1} s"));
}
return 0;

static int Positive(string name, string value) =>
    int.TryParse(value.Replace("_", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
        ? n
        : throw new ArgumentException($"{name}: '{value}' is not a positive integer");
