using Ferry.Examples.CitizenMart;
using Ferry.Mapping;

namespace Ferry.Tests.Examples;

/// <summary>The citizen-mart example's generator: deterministic, eventful, and untidy only in ways the cleansing undoes.</summary>
public class CitizenRegisterTests
{
    private static readonly CitizenRegister Register = new(new RegisterOptions(People: 3000, Months: 12));

    [Fact]
    public void Cleansing_turns_every_written_row_back_into_the_resident_it_describes()
    {
        var styledNames = 0;
        for (var month = 1; month <= 12; month++)
        {
            var written = Register.Extract(month).ToList();
            var residents = Register.Residents(month).ToList();
            Assert.Equal(residents.Count, written.Count);
            for (var i = 0; i < written.Count; i++)
            {
                var (row, clean) = (written[i], residents[i]);
                Assert.Equal(clean.CitizenId, row.CitizenId);
                Assert.Equal(clean.Name, ExpressionFunctions.PersonName(row.Name));
                Assert.Equal(clean.Postcode, ExpressionFunctions.UkPostcode(row.Postcode));
                Assert.Equal(clean.Phone, ExpressionFunctions.Phone(row.Phone));
                if (row.Name != clean.Name)
                    styledNames++;
            }
        }
        Assert.True(styledNames > 3000, $"only {styledNames} names were written untidily");
    }

    [Fact]
    public void A_year_has_arrivals_leavers_moves_corrections_and_new_phone_numbers()
    {
        var january = Register.Residents(1).ToDictionary(r => r.CitizenId);
        var december = Register.Residents(12).ToDictionary(r => r.CitizenId);
        var stayed = january.Keys.Where(december.ContainsKey).ToList();
        Assert.Equal(3000, january.Count);
        Assert.InRange(december.Keys.Count(k => !january.ContainsKey(k)), 250, 330);          // 30 arrivals a month, some left again
        Assert.InRange(january.Count - stayed.Count, 150, 450);                                 // about 10% left
        Assert.InRange(stayed.Count(k => january[k].Street != december[k].Street), 200, 600);   // about 1.2% move a month
        Assert.InRange(stayed.Count(k => january[k].Name != december[k].Name), 30, 150);        // 3% typos, corrected
        Assert.InRange(stayed.Count(k => january[k].Phone != december[k].Phone), 50, 250);
        Assert.All(december.Values, r => Assert.Equal(january.GetValueOrDefault(r.CitizenId)?.DateOfBirth ?? r.DateOfBirth, r.DateOfBirth));
    }

    [Fact]
    public void The_same_options_write_the_same_bytes()
    {
        var folder = Path.Combine(Path.GetTempPath(), "ferry-tests", "citizen-gen-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var small = new CitizenRegister(new RegisterOptions(People: 200, Months: 2));
            RegisterXlsxWriter.Write(Path.Combine(folder, "a.xlsx"), "Register", small.Extract(2));
            RegisterXlsxWriter.Write(Path.Combine(folder, "b.xlsx"), "Register", small.Extract(2));
            Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "a.xlsx")), File.ReadAllBytes(Path.Combine(folder, "b.xlsx")));
            Assert.Equal("register_2026-02.xlsx", small.FileName(2));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
