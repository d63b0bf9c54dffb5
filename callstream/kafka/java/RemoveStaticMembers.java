// Removes static members (group.instance.id) from a consumer group through Kafka's admin
// API (KIP-345), which librdkafka does not offer: a static member that stops on purpose
// then hands its partitions over at once instead of after its session timeout.
//
// java -cp '<kafka libs>/*' RemoveStaticMembers.java GROUP INSTANCE_ID...
// The client settings (passwords included) come as Java properties on stdin, never in argv.
// Prints one JSON object: {"removed": [...], "not_found": [...]} ; exits 1 on another error.

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
        if (args.length < 2) {
            System.err.println("usage: RemoveStaticMembers GROUP INSTANCE_ID...");
            System.exit(2);
        }
        Properties props = new Properties();
        props.load(System.in);
        String group = args[0];
        List<String> removed = new ArrayList<>();
        List<String> notFound = new ArrayList<>();
        try (Admin admin = Admin.create(props)) {
            for (int i = 1; i < args.length; i++) {
                MemberToRemove member = new MemberToRemove(args[i]);
                RemoveMembersFromConsumerGroupResult result = admin.removeMembersFromConsumerGroup(
                        group, new RemoveMembersFromConsumerGroupOptions(List.of(member)));
                try {
                    result.memberResult(member).get(30, TimeUnit.SECONDS);
                    removed.add(args[i]);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UnknownMemberIdException) {
                        notFound.add(args[i]);  // already gone: its session ended, or it never joined
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
