using System.Diagnostics;
using System.Globalization;
using MySqlConnector;

namespace Ferry.Bench;

/// <summary>The <c>district</c> and <c>consolidation</c> commands: legacy school databases for the example and the benchmark.</summary>
internal static class LegacyCommands
{
    public const string Usage = """
      Ferry.Bench district --out DIR [--mysql CONNECTION] [--students N] [--seed S]

    district   writes the legacy databases of examples/district-consolidation: DIR/north.db and
               DIR/south.db (SQLite) and the MariaDB database river (windows-1252 names, zero
               dates), each with schools, staff, students, enrollments and attendance and the dirt
               the example's README lists; prints every table's rows and planted rejects
      --out DIR        folder of the SQLite files (created if missing)
      --mysql CONN     river's MySqlConnector connection string; its Database is dropped and
                       created afresh (default: the environment variable RIVER_DB)
      --students N     clean students per district (default 1000)
      --seed S         PRNG seed (default 2024)

      Ferry.Bench consolidation --students N [--out FILE] [--split DIR --districts K] [--seed S]

    consolidation  writes the consolidation benchmark's SQLite database: schools (one per 2,000
               students), N students and 3 enrollments each, clean; with --split, the same rows in
               K per-district files DIR/district_1.db … (a school and its students and enrollments
               in district (school id - 1) mod K + 1)
      --students N     number of students (1_000_000 is accepted)
      --out FILE       the whole database (replaced if it exists)
      --split DIR      also (or only) write the per-district files into DIR
      --districts K    districts of --split (default 3)
      --seed S         PRNG seed (default 42)
    """;

    public static int District(string[] args)
    {
        string? output = null;
        var mySql = Environment.GetEnvironmentVariable("RIVER_DB");
        var students = 1000;
        ulong seed = 2024;
        var options = new Options(args);
        while (options.Next() is { } name)
        {
            switch (name)
            {
                case "--out": output = options.Value(); break;
                case "--mysql": mySql = options.Value(); break;
                case "--students": students = checked((int)options.Count()); break;
                case "--seed": seed = options.Seed(); break;
                default: throw new UsageException($"district: unknown option '{name}'");
            }
        }
        if (output is null)
            throw new UsageException("district: --out is required");
        if (string.IsNullOrWhiteSpace(mySql))
            throw new UsageException("district: --mysql (or the environment variable RIVER_DB) is required: river is a MariaDB database");
        if (students < 20)
            throw new UsageException("district: --students must be at least 20 (the dirt is spread among them)");

        var clock = Stopwatch.StartNew();
        var generator = new DistrictGenerator(students, seed);
        foreach (var district in DistrictGenerator.Districts)
        {
            using var database = district.MySql
                ? LegacyDatabaseWriter.CreateMySql(mySql)
                : LegacyDatabaseWriter.CreateSqlite(Path.Combine(output, district.Id + ".db"));
            var where = district.MySql ? $"MariaDB database {new MySqlConnectionStringBuilder(mySql).Database}" : Path.Combine(output, district.Id + ".db");
            var counts = generator.Write(district, database);
            Console.Error.WriteLine($"Ferry.Bench: district {district.Id} -> {where}: " +
                string.Join(", ", counts.Select(c => $"{c.Table} {c.Rows} ({c.Rejected} to reject)")));
        }
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Ferry.Bench: done in {clock.Elapsed.TotalSeconds:F2}s"));
        return 0;
    }

    public static int Consolidation(string[] args)
    {
        string? output = null, split = null;
        long? students = null;
        var districts = 3;
        ulong seed = 42;
        var options = new Options(args);
        while (options.Next() is { } name)
        {
            switch (name)
            {
                case "--out": output = options.Value(); break;
                case "--split": split = options.Value(); break;
                case "--students": students = options.Count(); break;
                case "--districts": districts = checked((int)options.Count()); break;
                case "--seed": seed = options.Seed(); break;
                default: throw new UsageException($"consolidation: unknown option '{name}'");
            }
        }
        if (students is null or 0)
            throw new UsageException("consolidation: --students is required (and positive)");
        if (output is null && split is null)
            throw new UsageException("consolidation: --out or --split is required");
        if (districts < 1)
            throw new UsageException("consolidation: --districts must be at least 1");

        var clock = Stopwatch.StartNew();
        using var whole = output is null ? null : LegacyDatabaseWriter.CreateSqlite(output);
        var parts = split is null ? [] : Enumerable.Range(1, districts)
            .Select(i => LegacyDatabaseWriter.CreateSqlite(Path.Combine(split, $"district_{i}.db"))).ToList();
        try
        {
            var counts = new ConsolidationGenerator(students.Value, seed).Write(whole, parts);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Ferry.Bench: {counts.Schools:N0} schools, {counts.Students:N0} students, {counts.Enrollments:N0} enrollments" +
                $"{(output is null ? "" : " -> " + output)}{(split is null ? "" : $" and {districts} districts in {split}")} in {clock.Elapsed.TotalSeconds:F2}s"));
        }
        finally
        {
            foreach (var part in parts)
                part.Dispose();
        }
        return 0;
    }

    /// <summary>A tiny option reader: names, then their values.</summary>
    private sealed class Options(string[] args)
    {
        private int _next;
        private string _name = "";

        public string? Next() => _next < args.Length ? _name = args[_next++] : null;

        public string Value() => _next < args.Length ? args[_next++] : throw new UsageException($"{_name} needs a value");

        public long Count()
        {
            var text = Value();
            return long.TryParse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                ? n
                : throw new UsageException($"{_name}: '{text}' is not a non-negative integer");
        }

        public ulong Seed()
        {
            var text = Value();
            return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var s)
                ? s
                : throw new UsageException($"{_name}: '{text}' is not an unsigned 64-bit integer");
        }
    }
}
