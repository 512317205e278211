/*
 * TokenCheck.java - an independent RFC 3161 verifier for the e2e tests
 * (tests/e2e/tsa_sm2.sh): BouncyCastle (Debian libbcprov-java,
 * libbcpkix-java), compiled by the test at run time into its temporary
 * directory.
 *
 *   java TokenCheck RESPONSE.der TSA-CERT.pem [IMPRINT-HEX]
 *
 * Parses the TimeStampResp with org.bouncycastle.tsp, validates the token
 * with a SignerInformationVerifier for the given certificate (signature,
 * messageDigest, ESSCertIDv2, timeStamping EKU, validity at genTime) and,
 * when given, compares the message imprint.  Prints one line
 * "ok <signature algorithm OID> <imprint algorithm OID> <genTime>" and
 * exits 0, or prints "FAIL <reason>" and exits 1.
 */
import java.io.FileReader;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.Security;
import java.util.Collection;

import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.SignerInformationVerifier;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.tsp.TimeStampResponse;
import org.bouncycastle.tsp.TimeStampToken;
import org.bouncycastle.util.encoders.Hex;

public final class TokenCheck {
    public static void main(String[] args) {
        if (args.length < 2 || args.length > 3) {
            System.out.println("FAIL usage: TokenCheck RESPONSE.der TSA-CERT.pem [IMPRINT-HEX]");
            System.exit(2);
        }
        try {
            Security.addProvider(new BouncyCastleProvider());
            TimeStampResponse resp = new TimeStampResponse(Files.readAllBytes(Paths.get(args[0])));
            TimeStampToken tok = resp.getTimeStampToken();
            if (tok == null) {
                throw new Exception("no token (status " + resp.getStatus() + ")");
            }
            X509CertificateHolder cert;
            try (PEMParser pem = new PEMParser(new FileReader(args[1]))) {
                cert = (X509CertificateHolder) pem.readObject();
            }
            SignerInformationVerifier v =
                new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(cert);
            tok.validate(v); /* throws TSPValidationException / TSPException when invalid */
            String imprint = Hex.toHexString(tok.getTimeStampInfo().getMessageImprintDigest());
            if (args.length == 3 && !imprint.equalsIgnoreCase(args[2])) {
                throw new Exception("message imprint " + imprint + " is not " + args[2]);
            }
            Collection<SignerInformation> signers = tok.toCMSSignedData().getSignerInfos().getSigners();
            SignerInformation si = signers.iterator().next();
            System.out.println("ok " + si.getEncryptionAlgOID() + " "
                + tok.getTimeStampInfo().getMessageImprintAlgOID().getId() + " "
                + tok.getTimeStampInfo().getGenTime().toInstant());
        } catch (Exception e) {
            System.out.println("FAIL " + e.getClass().getSimpleName() + ": " + e.getMessage());
            System.exit(1);
        }
    }
}
