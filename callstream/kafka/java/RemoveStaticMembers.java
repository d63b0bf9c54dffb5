// Removes static members (group.instance.id) from consumer groups through Kafka's admin
// API (KIP-345), which librdkafka does not offer: a static member that stops on purpose
// then hands its partitions over at once instead of after its session timeout.
//
// java -cp '<this class>:<kafka libs>/*' RemoveStaticMembers
// stdin: the client settings as Java properties (passwords included: never in argv) ended
// by a line "--"; then one request per line, "GROUP<TAB>INSTANCE_ID<TAB>...", until an
// empty line or the end of input. The admin client connects before the first request, so
// a caller keeps this running and a removal costs one round trip.
// stdout: one JSON object per request, {"removed": [...], "not_found": [...], "error": ...}.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.MemberToRemove;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.common.errors.UnknownMemberIdException;

public class RemoveStaticMembers {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder settings = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null && !line.equals("--")) {
            settings.append(line).append('\n');
        }
        Properties props = new Properties();
        props.load(new StringReader(settings.toString()));
        try (Admin admin = Admin.create(props)) {
            admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS);  // connected and authenticated
            System.out.println("{\"ready\": true}");
            System.out.flush();
            while ((line = in.readLine()) != null && !line.isEmpty()) {
                List<String> fields = Arrays.asList(line.split("\t"));
                System.out.println(remove(admin, fields.get(0), fields.subList(1, fields.size())));
                System.out.flush();
            }
        }
    }

    private static String remove(Admin admin, String group, List<String> ids) throws InterruptedException {
        List<String> removed = new ArrayList<>();
        List<String> notFound = new ArrayList<>();
        for (String id : ids) {
            MemberToRemove member = new MemberToRemove(id);
            try {
                admin.removeMembersFromConsumerGroup(group, new RemoveMembersFromConsumerGroupOptions(List.of(member)))
                        .memberResult(member).get(30, TimeUnit.SECONDS);
                removed.add(id);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof UnknownMemberIdException) {
                    notFound.add(id);  // already gone: its session ended, or it never joined
                } else {
                    return answer(removed, notFound, String.valueOf(e.getCause()));
                }
            } catch (java.util.concurrent.TimeoutException e) {
                return answer(removed, notFound, "no answer within 30 s");
            }
        }
        return answer(removed, notFound, null);
    }

    private static String answer(List<String> removed, List<String> notFound, String error) {
        return "{\"removed\": " + json(removed) + ", \"not_found\": " + json(notFound) + ", \"error\": "
                + (error == null ? "null" : quote(error)) + "}";
    }

    private static String json(List<String> values) {
        StringBuilder out = new StringBuilder("[");
        for (String v : values) {
            if (out.length() > 1) out.append(", ");
            out.append(quote(v));
        }
        return out.append(']').toString();
    }

    private static String quote(String value) {
        return '"' + value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ") + '"';
    }
}
