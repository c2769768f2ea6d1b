using System.Globalization;

namespace Ferry.Bench;

/// <summary>The sizes of a consolidation benchmark database.</summary>
internal sealed record ConsolidationCounts(long Schools, long Students, long Enrollments);

/// <summary>
/// The consolidation benchmark's legacy data: one SQLite database of schools, students and
/// enrollments (three a student: the school years 2022-23 to 2024-25), clean, every key an
/// integer and every reference resolvable; optionally the same rows split into per-district
/// SQLite databases, a school (and its students and their enrollments) going to district
/// <c>(school id - 1) mod N</c>, keys unchanged. Each row is computed from (seed, its index) alone,
/// and rows are written as they are made, so memory does not grow with the size.
/// </summary>
internal sealed class ConsolidationGenerator(long students, ulong seed)
{
    public const int EnrollmentsPerStudent = 3;
    private const ulong StudentStream = 11;

    private static readonly string[] SchoolColumns = ["id", "name", "city"];
    private static readonly string[] StudentColumns = ["id", "school_id", "first_name", "last_name", "birth_date", "grade"];
    private static readonly string[] EnrollmentColumns = ["id", "student_id", "school_id", "school_year", "grade", "enrolled_on"];
    private static readonly string[] Years = ["2022-23", "2023-24", "2024-25"];

    private const string Ddl = """
        CREATE TABLE schools (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
        CREATE TABLE students (id INTEGER PRIMARY KEY, school_id INTEGER NOT NULL, first_name TEXT, last_name TEXT, birth_date TEXT, grade INTEGER);
        CREATE TABLE enrollments (id INTEGER PRIMARY KEY, student_id INTEGER NOT NULL, school_id INTEGER NOT NULL, school_year TEXT, grade INTEGER, enrolled_on TEXT);
        """;

    /// <summary>One school per 2,000 students, at least 3 (so every district of a split gets one).</summary>
    public long Schools { get; } = Math.Max(3, students / 2000);

    /// <summary>Writes the whole database to <paramref name="whole"/> (if given) and its districts to <paramref name="districts"/>.</summary>
    public ConsolidationCounts Write(LegacyDatabaseWriter? whole, IReadOnlyList<LegacyDatabaseWriter> districts)
    {
        var targets = (whole is null ? [] : new[] { whole }).Concat(districts).ToList();
        foreach (var database in targets)
            database.Execute(Ddl);

        for (var school = 1L; school <= Schools; school++)
        {
            var place = LegacyNames.Places[(school - 1) % LegacyNames.Places.Length];
            object?[] row = [school, $"{place} {LegacyNames.SchoolKinds[(school - 1) % LegacyNames.SchoolKinds.Length]} {school}", place];
            whole?.Insert("schools", SchoolColumns, row);
            if (districts.Count > 0)
                districts[(int)((school - 1) % districts.Count)].Insert("schools", SchoolColumns, row);
        }

        var enrollmentId = 0L;
        for (var id = 1L; id <= students; id++)
        {
            var random = SplitMix64.For(seed, StudentStream, id);
            var school = 1 + (long)(random.NextUInt64() % (ulong)Schools);
            var grade = random.Next(3, 13);
            var birth = string.Create(CultureInfo.InvariantCulture, $"{2024 - 6 - grade:D4}-{random.Next(1, 13):D2}-{random.Next(1, 29):D2}");
            object?[] student = [id, school, random.Pick(LegacyNames.FirstNames), random.Pick(LegacyNames.LastNames), birth, (long)grade];
            var district = districts.Count > 0 ? districts[(int)((school - 1) % districts.Count)] : null;
            whole?.Insert("students", StudentColumns, student);
            district?.Insert("students", StudentColumns, student);
            for (var k = 0; k < EnrollmentsPerStudent; k++)
            {
                object?[] enrollment = [++enrollmentId, id, school, Years[k], (long)(grade - 2 + k), $"{2022 + k}-09-0{1 + k}"];
                whole?.Insert("enrollments", EnrollmentColumns, enrollment);
                district?.Insert("enrollments", EnrollmentColumns, enrollment);
            }
        }

        foreach (var database in targets)
            database.Commit();
        return new ConsolidationCounts(Schools, students, enrollmentId);
    }
}
