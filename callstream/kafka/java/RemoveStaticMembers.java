// Removes static members (group.instance.id) from a consumer group through Kafka's admin
// API (KIP-345), which librdkafka does not offer: a static member that stops on purpose
// then hands its partitions over at once instead of after its session timeout.
//
// java -cp '<kafka libs>/*' RemoveStaticMembers.java GROUP
// stdin: the client settings as Java properties (passwords included: never in argv), a line
// "--", then the group.instance.ids to remove, one per line, ended by an empty line. The
// client connects as soon as it has its settings, so the JVM's start overlaps the stopping
// of the members, whose ids the caller writes once they have stopped.
// Prints one JSON object: {"removed": [...], "not_found": [...]} ; exits 1 on another error.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.MemberToRemove;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupResult;
import org.apache.kafka.common.errors.UnknownMemberIdException;

public class RemoveStaticMembers {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: RemoveStaticMembers GROUP (settings, --, ids on stdin)");
            System.exit(2);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder settings = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null && !line.equals("--")) {
            settings.append(line).append('\n');
        }
        Properties props = new Properties();
        props.load(new StringReader(settings.toString()));
        String group = args[0];
        List<String> removed = new ArrayList<>();
        List<String> notFound = new ArrayList<>();
        try (Admin admin = Admin.create(props)) {
            admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS);  // connected and authenticated
            List<String> ids = new ArrayList<>();
            while ((line = in.readLine()) != null && !line.isEmpty()) {
                ids.add(line.trim());
            }
            for (String id : ids) {
                MemberToRemove member = new MemberToRemove(id);
                RemoveMembersFromConsumerGroupResult result = admin.removeMembersFromConsumerGroup(
                        group, new RemoveMembersFromConsumerGroupOptions(List.of(member)));
                try {
                    result.memberResult(member).get(30, TimeUnit.SECONDS);
                    removed.add(id);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UnknownMemberIdException) {
                        notFound.add(id);  // already gone: its session ended, or it never joined
                    } else {
                        System.err.println(e.getCause());
                        System.exit(1);
                    }
                }
            }
        }
        System.out.println("{\"removed\": " + json(removed) + ", \"not_found\": " + json(notFound) + "}");
    }

    private static String json(List<String> values) {
        StringBuilder out = new StringBuilder("[");
        for (String v : values) {
            if (out.length() > 1) out.append(", ");
            out.append('"').append(v.replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
        }
        return out.append(']').toString();
    }
}
