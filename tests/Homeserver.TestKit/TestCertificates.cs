using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Homeserver.TestKit;

/// <summary>A throwaway certificate authority and a <c>localhost</c> server certificate signed by it, as PEM files.</summary>
public sealed class TestCertificates
{
    private static readonly Lazy<TestCertificates> Shared = new(Create);

    private TestCertificates(string caPath, string certPath, string keyPath)
    {
        CaPath = caPath;
        CertificatePath = certPath;
        KeyPath = keyPath;
    }

    public static TestCertificates Instance => Shared.Value;

    public string CaPath { get; }

    public string CertificatePath { get; }

    public string KeyPath { get; }

    private static TestCertificates Create()
    {
        var dir = Directory.CreateTempSubdirectory("homeserver-test-ca-").FullName;
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=Homeserver test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        using var leafKey = RSA.Create(2048);
        var leafRequest = new CertificateRequest("CN=localhost", leafKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        var serial = RandomNumberGenerator.GetBytes(16);
        using var leaf = leafRequest.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), serial);

        var caPath = Path.Combine(dir, "ca.crt");
        var certPath = Path.Combine(dir, "tls.crt");
        var keyPath = Path.Combine(dir, "tls.key");
        File.WriteAllText(caPath, ca.ExportCertificatePem());
        File.WriteAllText(certPath, leaf.ExportCertificatePem());
        File.WriteAllText(keyPath, leafKey.ExportPkcs8PrivateKeyPem());
        return new TestCertificates(caPath, certPath, keyPath);
    }
}
