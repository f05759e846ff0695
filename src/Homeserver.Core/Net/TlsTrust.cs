using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Homeserver.Core.Net;

/// <summary>
/// How an outbound HTTPS connection decides whether to believe the server's certificate: the system's roots, plus
/// extra certificate authorities from PEM files (a company's internal CA, or a test suite's), or no verification
/// at all when <c>verify</c> is false (test setups only). A name mismatch or a missing certificate is never
/// accepted while verifying. Federation (<c>federation_custom_ca_list</c>) and the other outbound clients — push
/// gateways, URL previews (<c>outbound_http_custom_ca_list</c>) — each have one.
/// </summary>
public sealed class TlsTrust
{
    private readonly X509Certificate2Collection _customRoots = [];
    private readonly bool _verify;

    public TlsTrust(IEnumerable<string> caPemFiles, bool verify = true)
    {
        _verify = verify;
        foreach (var path in caPemFiles)
        {
            _customRoots.ImportFromPemFile(path);
        }
    }

    /// <summary>The system's roots only, verified.</summary>
    public static TlsTrust SystemDefault { get; } = new([]);

    /// <summary>Client TLS options whose certificate check is <see cref="Validate"/>.</summary>
    public SslClientAuthenticationOptions ClientOptions() => new() { RemoteCertificateValidationCallback = Validate };

    /// <summary>A <see cref="RemoteCertificateValidationCallback"/>.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (!_verify || errors == SslPolicyErrors.None)
        {
            return true;
        }

        // An unknown root may be one of the custom CAs; any other error stands.
        if (certificate is null || _customRoots.Count == 0 || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_customRoots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }

        return custom.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
